// Package identity turns a person's recovery phrase into their keys: BIP39
// phrase and passphrase to a 64-byte seed, SLIP-0010 ed25519 derivation
// along frozen hardened paths to the account key, the X25519 key and the
// file-key root, the bech32m address people read and type, and the
// optional passphrase-encrypted key file. It is pure: bytes in, bytes out,
// no files, no network, no goroutines.
//
// # Phrases
//
// New phrases are 24 words from 256 bits of crypto/rand entropy. Restore
// accepts any valid English phrase (12 to 24 words). Input is normalised
// (Unicode NFKD, lower case, single spaces, trimmed) before anything else,
// because the seed is PBKDF2 over the exact bytes and go-bip39 v1.1.0
// would otherwise accept extra spaces and silently derive a different
// seed. The BIP39 passphrase is NFKD-normalised but otherwise used as
// given. Errors say which word is not in the list and where (WordError,
// ErrUnknownWord, with close words as suggestions), or ErrWordCount, or
// ErrChecksum. A WordError echoes the mistyped word: fine on the person's
// own terminal, but callers should not log it.
//
// # Keys
//
// SLIP-0010 for ed25519 is implemented here (it is a few HMACs) rather than
// imported, so that the frozen paths depend on no third party:
//
//	m/44'/7446'/0'/0'  account Ed25519 key (the 32 bytes are the RFC 8032 seed)
//	m/44'/7446'/0'/1'  the 32 bytes are the X25519 private key
//	m/44'/7446'/0'/2'  the 32 bytes are the HKDF root for per-file keys
//
// Nodes do not use these; GenerateNodeKey gives each node its own random
// key, which its owner's account signs for elsewhere.
//
// # Addresses
//
// An address is the account public key in bech32m (BIP-350) with
// human-readable part "borg", 63 characters, e.g. borg1qqq...: the BCH
// checksum is guaranteed to detect any error in up to 4 characters (so any
// single typo or swapped pair) and fails to notice random damage with odds
// about 1 in 10^9; the alphabet is lower case only and leaves out 1, b, i
// and o, which are easily confused; the whole string is one word that a
// double click selects; its upper-case form uses the dense alphanumeric
// mode of QR codes; and it is a published standard with test vectors,
// implementable anywhere. It stays under bech32's 90-character limit, which
// bounds the checksum's guarantees. Another key type would get another
// prefix, not a version field.
//
// # Key files
//
// A key file holds the 64-byte BIP39 seed (enough to rebuild every key,
// without revealing the BIP39 passphrase, which people reuse) encrypted
// with XChaCha20-Poly1305 under a key from Argon2id over the NFKD-normalised
// file passphrase. Argon2id rather than age's scrypt: it is the RFC 9106
// recommendation, its memory and time costs are set separately and stored
// in the file, and the format stays ours to keep stable. The default cost
// is RFC 9106's t=3, m=64 MiB, 4 lanes (about 0.3 s measured on a 2-core
// VM; tests use t=1 and 64 KiB); a file may ask for at most 64 passes and
// 2 GiB, so a hostile file cannot stall a reader. The header (magic, version, KDF settings, random 16-byte salt and
// 24-byte nonce) is authenticated as AEAD additional data.
//
// An AEAD failure alone cannot tell a wrong passphrase from a damaged
// file, so the whole file ends in a SHA-256 checksum of everything before
// it, checked first: a mismatch is ErrCorruptKeyFile (restore a backup), an
// intact file that will not decrypt is ErrWrongPassphrase (retype). The
// checksum is against accident (a flaky USB stick), not attack; someone who
// edits the file and fixes the checksum gets ErrWrongPassphrase, never a
// wrong seed.
package identity
