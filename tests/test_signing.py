"""Signing keys, detached JWS and `dsr keys`: RFC vectors, third-party verifiers, bad paths."""

from __future__ import annotations

import base64
import json
import subprocess
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import main
from agent.errors import EXIT_VERIFICATION_FAILED
from agent.jws import SignatureError, b64url, canonical, sign_detached, verify_detached
from agent.keys import DigestKey
from agent.signing import (
    SigningKeyError,
    SigningKeys,
    load_public_keys,
    public_jwk,
    public_pem,
    thumbprint,
)

# RFC 8037 Appendix A.1 (key), A.3 (its thumbprint) and A.4 (an EdDSA signature).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_PAYLOAD = b"Example of Ed25519 signing"
RFC8037_JWS = ("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
               "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_"
               "MuM0KAg")
PAYLOAD = canonical({"receipt": "R-1", "systems": [{"name": "crm", "deleted": 2}],
                     "subject": "example.com"})


def rfc_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(RFC8037_D + "="))


def detach(compact: str) -> str:
    protected, _, signature = compact.split(".")
    return f"{protected}..{signature}"


@pytest.fixture
def signed() -> tuple[str, str, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    kid = thumbprint(key.public_key())
    return sign_detached(PAYLOAD, kid, key), kid, key


# -- kid, JWK, canonical form ----------------------------------------------------------------

def test_kid_is_the_rfc7638_thumbprint_of_rfc8037_example_key():
    public = rfc_key().public_key()
    assert public_jwk(public) == {"crv": "Ed25519", "kty": "OKP", "x": RFC8037_X}
    assert thumbprint(public) == RFC8037_THUMBPRINT


def test_canonical_is_rfc8785():
    assert canonical({"b": [1.0, 1e21, "é"], "a": None}) == (
        '{"a":null,"b":[1,1e+21,"é"]}'.encode())
    with pytest.raises(ValueError, match="finite") as info:
        canonical({"n": 2**60})
    assert str(2**60) not in str(info.value)


# -- our sign / verify -----------------------------------------------------------------------

def test_sign_verify_round_trip_with_canonical_protected_header(signed):
    jws, kid, key = signed
    protected, middle, _ = jws.split(".")
    assert middle == ""
    header = base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4))
    assert header == f'{{"alg":"Ed25519","kid":"{kid}"}}'.encode()
    other = Ed25519PrivateKey.generate().public_key()
    assert verify_detached(jws, PAYLOAD, {thumbprint(other): other,
                                          kid: key.public_key()}) == kid


def test_rfc8037_eddsa_signature_is_accepted():
    public = rfc_key().public_key()
    assert verify_detached(detach(RFC8037_JWS), RFC8037_PAYLOAD,
                           {RFC8037_THUMBPRINT: public}) == RFC8037_THUMBPRINT


def _forge(header: dict[str, object], key: Ed25519PrivateKey) -> str:
    protected = b64url(json.dumps(header).encode())
    signature = key.sign(f"{protected}.{b64url(PAYLOAD)}".encode())
    return f"{protected}..{b64url(signature)}"


@pytest.mark.parametrize("mangle, message", [
    (lambda j, kid, k: j.replace("..", ".eyJ9."), "carries a payload"),
    (lambda j, kid, k: j.split("..")[0], "three dot-separated parts"),
    (lambda j, kid, k: "!!" + j, "protected header is not base64url"),
    (lambda j, kid, k: b64url(b"not json") + ".." + j.split("..")[1], "not JSON"),
    (lambda j, kid, k: b64url(b"[1]") + ".." + j.split("..")[1], "not a JSON object"),
    (lambda j, kid, k: j[:-4], "64 bytes"),
    (lambda j, kid, k: j[:-1] + "*", "signature is not base64url"),
    (lambda j, kid, k: _forge({"alg": "none", "kid": kid}, k), "unsupported alg 'none'"),
    (lambda j, kid, k: _forge({"alg": "HS256", "kid": kid}, k), "unsupported alg 'HS256'"),
    (lambda j, kid, k: _forge({"alg": "Ed448", "kid": kid}, k), "unsupported alg"),
    (lambda j, kid, k: _forge({"kid": kid}, k), "missing or invalid"),
    (lambda j, kid, k: _forge({"alg": "Ed25519", "kid": kid, "crit": ["b64"], "b64": False},
                              k), "critical"),
    (lambda j, kid, k: _forge({"alg": "Ed25519", "kid": "someone-else"}, k),
     "unknown key id 'someone-else'"),
    (lambda j, kid, k: _forge({"alg": "Ed25519", "kid": 7}, k), "kid is not a string"),
    (lambda j, kid, k: b64url(b'{"alg":"Ed25519","alg":"EdDSA"}') + ".." + j.split("..")[1],
     "duplicate header"),
])
def test_malformed_or_foreign_jws_is_rejected_clearly(signed, mangle, message):
    jws, kid, key = signed
    with pytest.raises(SignatureError, match=message) as info:
        verify_detached(mangle(jws, kid, key), PAYLOAD, {kid: key.public_key()})
    assert info.value.exit_code == EXIT_VERIFICATION_FAILED


def test_changed_payload_signature_or_key_fails(signed):
    jws, kid, key = signed
    keys = {kid: key.public_key()}
    tampered = bytearray(PAYLOAD)
    tampered[5] ^= 1
    with pytest.raises(SignatureError, match="signature does not match"):
        verify_detached(jws, bytes(tampered), keys)
    protected, _, signature = jws.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(SignatureError, match="signature does not match"):
        verify_detached(f"{protected}..{flipped}", PAYLOAD, keys)
    impostor = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureError, match="signature does not match"):
        verify_detached(jws, PAYLOAD, {kid: impostor})


def test_header_without_kid_needs_exactly_one_key():
    key = rfc_key()
    two = {"a": key.public_key(), "b": Ed25519PrivateKey.generate().public_key()}
    with pytest.raises(SignatureError, match="no kid"):
        verify_detached(detach(RFC8037_JWS), RFC8037_PAYLOAD, two)


# -- third parties verify with standard tools ------------------------------------------------

def test_jwcrypto_verifies_our_detached_jws(signed):
    from jwcrypto import jwk, jws

    token, kid, key = signed
    public = jwk.JWK(**public_jwk(key.public_key()))
    verifier = jws.JWS()
    verifier.deserialize(token)
    verifier.verify(public, detached_payload=PAYLOAD)  # default allowed algs hold Ed25519
    assert verifier.jose_header == {"alg": "Ed25519", "kid": kid}
    verifier = jws.JWS()
    verifier.deserialize(token)
    with pytest.raises(jws.InvalidJWSSignature):
        verifier.verify(public, detached_payload=PAYLOAD + b" ")


def test_joserfc_verifies_our_detached_jws_when_ed25519_is_allowed(signed):
    from joserfc import jws
    from joserfc.errors import BadSignatureError, UnsupportedAlgorithmError
    from joserfc.jwk import OKPKey

    token, kid, key = signed
    public = OKPKey.import_key(public_jwk(key.public_key()))
    result = jws.deserialize_compact(token, public, algorithms=["Ed25519"], payload=PAYLOAD)
    assert result.headers() == {"alg": "Ed25519", "kid": kid}
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(token, public, algorithms=["Ed25519"], payload=PAYLOAD + b" ")
    # joserfc 1.8 does not list Ed25519 among its default "recommended" algorithms
    with pytest.raises(UnsupportedAlgorithmError):
        jws.deserialize_compact(token, public, payload=PAYLOAD)


def test_joserfc_accepts_eddsa_only_when_asked_and_warns():
    from joserfc import jws
    from joserfc.jwk import OKPKey

    public = OKPKey.import_key(public_jwk(rfc_key().public_key()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jws.deserialize_compact(detach(RFC8037_JWS), public, algorithms=["EdDSA"],
                                payload=RFC8037_PAYLOAD)
    assert any("deprecated" in str(w.message) for w in caught)


def test_openssl_verifies_the_signing_input(signed, tmp_path):
    token, _, key = signed
    protected, _, signature = token.split(".")
    (tmp_path / "pub.pem").write_text(public_pem(key.public_key()))
    (tmp_path / "sig").write_bytes(base64.urlsafe_b64decode(signature + "=="))
    (tmp_path / "input").write_bytes(f"{protected}.{b64url(PAYLOAD)}".encode())
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin",
               "-in", "input", "-sigfile", "sig"]
    ok = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "Verified Successfully" in ok.stdout
    (tmp_path / "input").write_bytes(f"{protected}.{b64url(PAYLOAD + b' ')}".encode())
    bad = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0


# -- the key folder --------------------------------------------------------------------------

def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_init_creates_a_0600_pkcs8_key_and_refuses_to_overwrite(tmp_path):
    keys = SigningKeys(tmp_path / "signing")
    kid = keys.init()
    private = tmp_path / "signing" / f"ed25519-{kid}.key.pem"
    assert mode(private) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    active_kid, key = keys.active()
    assert active_kid == kid == thumbprint(key.public_key())
    assert keys.jwk(kid) == {**public_jwk(key.public_key()), "kid": kid}
    assert load_public_keys(keys.pem(kid)) == {kid: keys.public_keys()[kid]}
    before = private.read_bytes()
    with pytest.raises(SigningKeyError, match=r"already exists.*dsr keys rotate"):
        SigningKeys(tmp_path / "signing").init()
    assert private.read_bytes() == before


def test_rotate_keeps_retired_public_keys_for_old_signatures(tmp_path):
    keys = SigningKeys(tmp_path)
    first = keys.init()
    old_jws = sign_detached(PAYLOAD, *keys.active())
    second = keys.rotate()
    assert second != first and keys.active()[0] == second
    assert not (tmp_path / f"ed25519-{first}.key.pem").exists()  # a retired key never signs again
    assert set(keys.public_keys()) == {first, second}
    assert verify_detached(old_jws, PAYLOAD, keys.public_keys()) == first
    status = {info.kid: info.active for info in keys.entries()}
    assert status == {first: False, second: True}
    assert [info.retired is not None for info in keys.entries()] == [True, False]


def test_passphrase_encrypts_and_is_read_from_the_recorded_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DSR_TEST_SIGNING_PASS", "correct horse battery staple")
    kid = SigningKeys(tmp_path, "DSR_TEST_SIGNING_PASS").init()
    text = (tmp_path / f"ed25519-{kid}.key.pem").read_text()
    assert text.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert "correct horse" not in (tmp_path / "index.json").read_text()
    assert SigningKeys(tmp_path).active()[0] == kid  # variable name taken from the index
    new = SigningKeys(tmp_path).rotate()
    assert (tmp_path / f"ed25519-{new}.key.pem").read_text().startswith("-----BEGIN ENCRYPTED")
    monkeypatch.setenv("DSR_TEST_SIGNING_PASS", "wrong")
    with pytest.raises(SigningKeyError, match="wrong passphrase") as info:
        SigningKeys(tmp_path).active()
    assert str(tmp_path) in str(info.value)
    monkeypatch.delenv("DSR_TEST_SIGNING_PASS")
    with pytest.raises(SigningKeyError, match="DSR_TEST_SIGNING_PASS is not set"):
        SigningKeys(tmp_path).active()
    assert set(SigningKeys(tmp_path).public_keys()) == {kid, new}  # no passphrase needed


def test_bad_key_folders_are_refused_with_the_path(tmp_path):
    with pytest.raises(SigningKeyError, match="dsr keys init"):
        SigningKeys(tmp_path / "none").active()
    with pytest.raises(SigningKeyError, match="dsr keys init"):
        SigningKeys(tmp_path / "none").rotate()
    keys = SigningKeys(tmp_path / "k")
    kid = keys.init()
    private = tmp_path / "k" / f"ed25519-{kid}.key.pem"
    private.chmod(0o644)
    with pytest.raises(SigningKeyError, match="chmod 600") as info:
        keys.active()
    assert str(private) in str(info.value)
    private.chmod(0o600)
    private.write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SigningKeyError, match="corrupt"):
        keys.active()
    other = Ed25519PrivateKey.generate()
    (tmp_path / "k" / f"ed25519-{kid}.pub.pem").write_text(public_pem(other.public_key()))
    with pytest.raises(SigningKeyError, match="does not match its key id"):
        keys.public_keys()
    (tmp_path / "k" / "index.json").write_text("{not json")
    with pytest.raises(SigningKeyError, match="index is corrupt"):
        keys.active()
    (tmp_path / "k" / "index.json").write_text('{"active": "x", "keys": [{"kid": "x", '
                                              '"file": "../../etc/passwd", "public_file": '
                                              '"p", "created": "", "retired": null, '
                                              '"encrypted": false}]}')
    with pytest.raises(SigningKeyError, match="outside its folder"):
        keys.active()


def test_unreadable_or_missing_key_file_is_reported(tmp_path):
    keys = SigningKeys(tmp_path)
    kid = keys.init()
    private = tmp_path / f"ed25519-{kid}.key.pem"
    private.unlink()
    with pytest.raises(SigningKeyError, match=r"missing.*dsr keys init"):
        keys.active()
    private.mkdir(mode=0o700)  # unreadable as a file, whoever runs the tests (root too)
    with pytest.raises(SigningKeyError, match="cannot read the signing key"):
        keys.active()
    (tmp_path / f"ed25519-{kid}.pub.pem").unlink()
    with pytest.raises(SigningKeyError, match="public key file missing"):
        keys.public_keys()


def test_public_key_files_load_as_pem_jwk_or_jwk_set(tmp_path):
    keys = SigningKeys(tmp_path)
    first = keys.init()
    second = keys.rotate()
    pems = keys.pem(first) + keys.pem(second)
    assert set(load_public_keys(pems)) == {first, second}
    assert set(load_public_keys(json.dumps(keys.jwk(first)))) == {first}
    jwks = json.dumps({"keys": [keys.jwk(first), keys.jwk(second)]})
    assert set(load_public_keys(jwks)) == {first, second}
    for text, message in [("nonsense", "not a PEM"), ('{"kty": "RSA"}', "not an Ed25519"),
                          ('{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}', "32-byte"),
                          ('{"keys": []}', "no keys")]:
        with pytest.raises(SigningKeyError, match=message):
            load_public_keys(text)


# -- dsr keys --------------------------------------------------------------------------------



def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_init_creates_signing_key_and_hmac_key_once(config, capsys):
    code, out, _ = run(capsys, "keys", "init", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["hmac_key_created"] is True and result["encrypted"] is False
    folder = config.parent / "keys" / "signing"
    assert result["signing_keys"] == str(folder)
    assert SigningKeys(folder).active()[0] == result["kid"]
    assert mode(config.parent / "keys" / "hmac.key") == 0o600
    code, _, err = run(capsys, "keys", "init")
    assert code == 1 and "already exists" in err and "dsr keys rotate" in err


def test_keys_init_adopts_the_existing_hmac_key(config, capsys):
    hmac_path = config.parent / "keys" / "hmac.key"
    existing = DigestKey.load_or_create(hmac_path)
    before = hmac_path.read_bytes()
    code, out, _ = run(capsys, "keys", "init")
    assert code == 0
    assert "HMAC key adopted" in out and existing.key_id in out
    assert hmac_path.read_bytes() == before


def test_keys_init_with_unset_passphrase_variable_changes_nothing(config, capsys, monkeypatch):
    monkeypatch.delenv("DSR_TEST_NO_SUCH_PASS", raising=False)
    code, out, _ = run(capsys, "keys", "init", "--passphrase-env", "DSR_TEST_NO_SUCH_PASS",
                       "--json")
    assert code == 1
    assert "DSR_TEST_NO_SUCH_PASS is not set" in json.loads(out)["error"]
    assert not (config.parent / "keys").exists()


def test_keys_public_rotate_and_list(config, capsys, monkeypatch):
    monkeypatch.setenv("DSR_TEST_SIGNING_PASS", "a passphrase for tests")
    _, out, _ = run(capsys, "keys", "init", "--passphrase-env", "DSR_TEST_SIGNING_PASS",
                    "--json")
    first = json.loads(out)["kid"]
    code, out, _ = run(capsys, "keys", "public")
    assert code == 0
    jwk = json.loads(out)
    assert jwk["kid"] == first and jwk["kty"] == "OKP" and "d" not in jwk
    code, out, _ = run(capsys, "keys", "rotate", "--json")
    rotated = json.loads(out)
    assert code == 0 and rotated["retired"] == first
    second = rotated["kid"]
    _, out, _ = run(capsys, "keys", "public", "--all", "--json")
    assert [k["kid"] for k in json.loads(out)["keys"]] == [first, second]
    _, out, _ = run(capsys, "keys", "public", "--format", "pem")
    assert out.startswith("-----BEGIN PUBLIC KEY-----")
    assert set(load_public_keys(out)) == {second}
    _, out, _ = run(capsys, "keys", "public", "--format", "pem", "--all", "--json")
    assert [k["kid"] for k in json.loads(out)["keys"]] == [first, second]
    code, out, _ = run(capsys, "keys", "list", "--json")
    listing = json.loads(out)
    assert code == 0
    assert [(k["kid"], k["status"], k["encrypted"]) for k in listing["keys"]] == [
        (first, "retired", True), (second, "active", True)]
    assert listing["hmac_key"]["exists"] is True and listing["hmac_key"]["key_id"]
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0 and second in out and "HMAC key" in out


def test_keys_commands_before_init_point_at_init(config, capsys):
    for args in (["keys", "public"], ["keys", "rotate"]):
        code, _, err = run(capsys, *args)
        assert code == 1 and "dsr keys init" in err
    code, out, _ = run(capsys, "keys", "list", "--json")
    assert code == 0 and json.loads(out)["keys"] == []
    assert json.loads(out)["hmac_key"] == {"path": str(config.parent / "keys" / "hmac.key"),
                                           "exists": False, "key_id": None}
