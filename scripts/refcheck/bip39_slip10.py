#!/usr/bin/env python3
"""Independent reference for `borgios seed inspect --json`.

Written from the specifications (BIP39 seed derivation, SLIP-0010 ed25519,
BIP-350 bech32m) using only hashlib, hmac and unicodedata, plus the
`cryptography` package for Ed25519 and X25519 public keys, so it shares no
code with the Go implementation it checks.

Input on stdin: the phrase on the first line, an optional BIP39 passphrase
on the second. Output: the same JSON object as `borgios seed inspect --json`
(with --show-secrets, also the private keys and the file-key root).

It does not check the phrase against the word list or its checksum: the Go
side does that, and the seed is defined over the normalised text alone.
"""

import argparse
import hashlib
import hmac
import json
import struct
import sys
import unicodedata

try:
    from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
    from cryptography.hazmat.primitives import serialization
except ImportError:  # pragma: no cover - reported to the caller
    sys.stderr.write("bip39_slip10.py: the python3 'cryptography' module is missing "
                     "(apt install python3-cryptography or pip install cryptography)\n")
    sys.exit(3)

HARDENED = 0x80000000
PATHS = {
    "account": "m/44'/7446'/0'/0'",
    "x25519": "m/44'/7446'/0'/1'",
    "file_root": "m/44'/7446'/0'/2'",
}


def normalize_phrase(s):
    # NFKD, lower case, words split on any whitespace, joined by one space.
    s = unicodedata.normalize("NFKD", s).lower()
    s = unicodedata.normalize("NFKD", s)
    return " ".join(s.split())


def bip39_seed(phrase, passphrase):
    m = normalize_phrase(phrase).encode("utf-8")
    salt = ("mnemonic" + unicodedata.normalize("NFKD", passphrase)).encode("utf-8")
    return hashlib.pbkdf2_hmac("sha512", m, salt, 2048, 64)


def slip10_ed25519(seed, path):
    parts = path.split("/")
    assert parts[0] == "m"
    i = hmac.new(b"ed25519 seed", seed, hashlib.sha512).digest()
    key, chain = i[:32], i[32:]
    for p in parts[1:]:
        assert p.endswith("'"), "ed25519 needs hardened derivation"
        index = int(p[:-1]) | HARDENED
        data = b"\x00" + key + struct.pack(">I", index)
        i = hmac.new(chain, data, hashlib.sha512).digest()
        key, chain = i[:32], i[32:]
    return key, chain


# BIP-350 bech32m, from the specification's description.
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32M_CONST = 0x2BC830A3


def polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for k in range(5):
            if (top >> k) & 1:
                chk ^= gen[k]
    return chk


def hrp_expand(hrp):
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def to_5bit(data):
    acc, bits, out = 0, 0, []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


def bech32m(hrp, payload):
    data = to_5bit(payload)
    pm = polymod(hrp_expand(hrp) + data + [0] * 6) ^ BECH32M_CONST
    check = [(pm >> 5 * (5 - k)) & 31 for k in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + check)


def raw(pub):
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def inspect(phrase, passphrase, show_secrets):
    seed = bip39_seed(phrase, passphrase)
    acct, _ = slip10_ed25519(seed, PATHS["account"])
    xpriv, _ = slip10_ed25519(seed, PATHS["x25519"])
    froot, _ = slip10_ed25519(seed, PATHS["file_root"])
    acct_pub = raw(ed25519.Ed25519PrivateKey.from_private_bytes(acct).public_key())
    x_pub = raw(x25519.X25519PrivateKey.from_private_bytes(xpriv).public_key())
    out = {
        "account_public_key": acct_pub.hex(),
        "x25519_public_key": x_pub.hex(),
        "address": bech32m("borg", acct_pub),
    }
    if show_secrets:
        out["account_private_key"] = acct.hex()
        out["x25519_private_key"] = xpriv.hex()
        out["file_root"] = froot.hex()
    return out


def selftest():
    """Check this script against the specifications' own vectors first, so
    a mismatch with the Go side is not a bug in the reference."""
    # SLIP-0010 test vector 1 for ed25519, chain m/0H/1H.
    key, chain = slip10_ed25519(bytes(range(16)), "m/0'/1'")
    assert chain.hex() == "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14"
    assert key.hex() == "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2"
    pub = raw(ed25519.Ed25519PrivateKey.from_private_bytes(key).public_key())
    assert pub.hex() == "1932a5270f335bed617d5b935c80aedb1a35bd9fc1e31acafd5372c30f5c1187"
    # BIP39 (Trezor vectors, passphrase TREZOR).
    seed = bip39_seed("  Abandon abandon abandon abandon abandon abandon abandon abandon "
                      "abandon abandon abandon ABOUT ", "TREZOR")
    assert seed.hex() == ("c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e5349553"
                          "1f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04")
    # BIP-350 valid bech32m strings with empty and all-"l" (31) data.
    assert bech32m("a", b"") == "a1lqfn3a"
    assert polymod(hrp_expand("abcdef") + [CHARSET.index(c) for c in
                   "l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx"]) == BECH32M_CONST
    # RFC 7748 section 6.1: Alice's X25519 key pair.
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    assert raw(x25519.X25519PrivateKey.from_private_bytes(alice).public_key()).hex() == \
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    print("selftest ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--show-secrets", action="store_true")
    ap.add_argument("--selftest", action="store_true",
                    help="check this script against the specifications' vectors and exit")
    args = ap.parse_args()
    if args.selftest:
        selftest()
        return
    # Read bytes and decode, so the result does not depend on the locale.
    lines = sys.stdin.buffer.read().decode("utf-8").split("\n")
    phrase = lines[0].rstrip("\r")
    passphrase = lines[1].rstrip("\r") if len(lines) > 1 else ""
    json.dump(inspect(phrase, passphrase, args.show_secrets), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
