// Package mail is end-to-end encrypted mail between accounts: the mail
// cell keeps each person's signed key record and the sealed messages sent
// to them on the k nodes rendezvous hashing picks for their mailbox, and
// the Client seals, stamps, delivers, lists, reads, marks and deletes.
//
// A message is sealed to the recipient's current random prekey (ephemeral
// X25519, HKDF, XChaCha20-Poly1305) and signed inside the encryption by
// its sender, so nodes see only the recipient, the size and the arrival
// time. Prekey secrets live in the owner's phrase-sealed, signed,
// versioned vault on the holders and are destroyed on retirement; read
// mail is re-sealed into the owner's archive first. Reading,
// listing, marking and deleting need a fresh request envelope signed by
// the mailbox owner; the node's replay guard refuses a replayed one.
// SECURITY.md in this folder says exactly what is and is not protected.
package mail
