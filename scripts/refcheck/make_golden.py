#!/usr/bin/env python3
"""Regenerates node/identity/testdata/refcheck_golden.json from
bip39_slip10.py, so the Go tests compare against the independent reference
even where Python is not installed. Run from the repository root:

    python3 scripts/refcheck/make_golden.py > node/identity/testdata/refcheck_golden.json
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bip39_slip10 as ref  # noqa: E402

# Reference phrases from the BIP39 (Trezor) vectors: every length, with and
# without passphrase, plus input that only matches after normalisation.
CASES = [
    ("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", ""),
    ("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "TREZOR"),
    ("legal winner thank year wave sausage worth useful legal winner thank yellow", "TREZOR"),
    ("ozone drill grab fiber curtain grace pudding thank cruise elder eight picnic", ""),
    ("letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic avoid letter always", "TREZOR"),
    ("gravity machine north sort system female filter attitude volume fold club stay feature office ecology stable narrow fog", ""),
    ("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote", ""),
    ("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote", "TREZOR"),
    ("all hour make first leader extend hole alien behind guard gospel lava path output census museum junior mass reopen famous sing advance salt reform", ""),
    ("void come effort suffer camp survey warrior heavy shoot primary clutch crush open amazing screen patrol group space point ten exist slush involve unfold", "TREZOR"),
    ("hamster diagram private dutch cause delay private meat slide toddler razor book happy fancy gospel tennis maple dilemma loan word shrug inflict delay length", "correct horse battery staple"),
    # Needs normalising: case, runs of spaces, a tab; passphrase in NFD.
    ("  Panda EYEBROW bullet gorilla  call smoke muffin taste mesh discover soft ostrich\talcohol speed nation flash devote level hobby quick inner drive ghost inside ", "cafe\u0301 \u2603"),
]


def main():
    vectors = []
    for phrase, passphrase in CASES:
        vectors.append({
            "phrase": phrase,
            "passphrase": passphrase,
            "expected": ref.inspect(phrase, passphrase, True),
        })
    json.dump({
        "generator": "scripts/refcheck/make_golden.py (bip39_slip10.py --show-secrets)",
        "paths": ref.PATHS,
        "vectors": vectors,
    }, sys.stdout, indent=2, ensure_ascii=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
