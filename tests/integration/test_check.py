"""`postern check` (and `serve`) on broken configurations, through the real
binary: a key given twice, users files and certificates that cannot be used.
Every error names the file and the line (of the configuration key that
names a file, or inside the users file)."""
import datetime
import subprocess

from conftest import BIN
from tlsenv import make_ca


def check(conf):
    return subprocess.run([BIN, "-c", str(conf), "check"], capture_output=True, text=True)


def line_of(conf, prefix, nth=1):
    """The 1-based line of the nth line of conf starting with prefix."""
    hits = [i + 1 for i, l in enumerate(conf.read_text().splitlines()) if l.startswith(prefix)]
    return hits[nth - 1]


def add_line_after(conf, after_prefix, new_line):
    lines = conf.read_text().splitlines()
    i = next(i for i, l in enumerate(lines) if l.startswith(after_prefix))
    lines.insert(i + 1, new_line)
    conf.write_text("\n".join(lines) + "\n")


def test_duplicate_key_is_refused_by_check_and_serve(make_postern):
    p = make_postern(start=False)
    assert check(p.conf_path).returncode == 0
    add_line_after(p.conf_path, "hostname = ", "hostname = other.example.test")
    first, second = line_of(p.conf_path, "hostname = "), line_of(p.conf_path, "hostname = ", 2)
    want = (f"{p.conf_path}:{second}: duplicate key 'hostname' in [server] "
            f"(first on line {first})")
    r = check(p.conf_path)
    assert r.returncode == 1 and want in r.stderr, r.stderr
    r = subprocess.run([BIN, "-c", str(p.conf_path), "serve"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0 and want in r.stderr, r.stderr


def test_duplicate_key_in_other_sections(make_postern):
    p = make_postern({"limits": {"recipients": "5"}}, start=False)
    add_line_after(p.conf_path, "recipients = ", "Recipients = 5")  # same value, other case
    r = check(p.conf_path)
    n = line_of(p.conf_path, "Recipients = ")
    assert r.returncode == 1, r.stderr
    assert f"postern.conf:{n}: duplicate key 'Recipients' in [limits] (first on line {n - 1})" \
        in r.stderr, r.stderr


def test_keys_that_add_up_may_repeat(make_postern, workdir):
    from conftest import free_port
    p = make_postern(start=False)
    add_line_after(p.conf_path, "local = ", "local = example.net")
    add_line_after(p.conf_path, "smtp = ", f"smtp = 127.0.0.1:{free_port()}")
    r = check(p.conf_path)
    assert r.returncode == 0, r.stderr
    assert "3 local domains, 2 listeners" in r.stdout, r.stdout


def test_missing_users_file_names_the_key_and_its_line(make_postern):
    p = make_postern(start=False)
    (p.dir / "users").unlink()
    r = check(p.conf_path)
    n = line_of(p.conf_path, "users_file = ")
    assert r.returncode == 1, r.stderr
    assert (f"postern.conf:{n}: [domains] users_file: {p.dir}/users: cannot open: "
            "No such file or directory") in r.stderr, r.stderr


def test_bad_users_file_lines_are_named(make_postern):
    p = make_postern(start=False)
    users = p.dir / "users"
    users.write_text("# comment\nalice@example.test:!\nno colon here\n"
                     "../etc@example.test:!\nalice@example.test:!\nbob@example.test:\n")
    r = check(p.conf_path)
    assert r.returncode == 1
    assert f"{users}:3: expected \"address:hash\"" in r.stderr, r.stderr
    assert f"{users}:4: '../etc@example.test' is not a valid mailbox address" in r.stderr
    assert f"{users}:5: alice@example.test is listed twice" in r.stderr
    assert f"{users}:6: missing or malformed password hash" in r.stderr


def tls_conf(make_postern, workdir, cert, key):
    return make_postern({"tls": {"cert": cert, "key": key}}, start=False, subdir="tls")


def test_good_certificate_passes(make_postern, workdir):
    ca = make_ca(workdir / "ca")
    p = tls_conf(make_postern, workdir, ca["cert"], ca["key"])
    r = check(p.conf_path)
    assert r.returncode == 0, r.stderr


def test_unreadable_certificate(make_postern, workdir):
    ca = make_ca(workdir / "ca")
    p = tls_conf(make_postern, workdir, str(workdir / "nonexistent.pem"), ca["key"])
    r = check(p.conf_path)
    n = line_of(p.conf_path, "cert = ")
    assert r.returncode == 1
    assert (f"postern.conf:{n}: [tls] cert: {workdir}/nonexistent.pem: cannot open: "
            "No such file or directory") in r.stderr, r.stderr


def test_certificate_that_is_not_pem(make_postern, workdir):
    ca = make_ca(workdir / "ca")
    junk = workdir / "junk.pem"
    junk.write_text("this is not a certificate\n")
    p = tls_conf(make_postern, workdir, str(junk), ca["key"])
    r = check(p.conf_path)
    n = line_of(p.conf_path, "cert = ")
    assert r.returncode == 1
    assert f"postern.conf:{n}: [tls] cert: {junk}: no PEM certificate in it" in r.stderr, r.stderr
    # A key where the certificate should be is not a certificate either.
    p = make_postern({"tls": {"cert": ca["key"], "key": ca["key"]}}, start=False, subdir="tls2")
    r = check(p.conf_path)
    assert r.returncode == 1 and f"{ca['key']}: no PEM certificate in it" in r.stderr, r.stderr


def test_key_that_is_not_pem_or_missing(make_postern, workdir):
    ca = make_ca(workdir / "ca")
    p = tls_conf(make_postern, workdir, ca["cert"], ca["cert"])
    r = check(p.conf_path)
    n = line_of(p.conf_path, "key = ")
    assert r.returncode == 1
    assert f"postern.conf:{n}: [tls] key: {ca['cert']}: no PEM private key in it" in r.stderr, \
        r.stderr
    p = make_postern({"tls": {"cert": ca["cert"], "key": str(workdir / "gone.key")}},
                     start=False, subdir="tls2")
    r = check(p.conf_path)
    assert r.returncode == 1
    assert f"[tls] key: {workdir}/gone.key: cannot open: No such file" in r.stderr, r.stderr


def test_key_that_does_not_match(make_postern, workdir):
    ca = make_ca(workdir / "ca")
    other = make_ca(workdir / "other")
    p = tls_conf(make_postern, workdir, ca["cert"], other["key"])
    r = check(p.conf_path)
    n = line_of(p.conf_path, "key = ")
    assert r.returncode == 1
    assert (f"postern.conf:{n}: [tls] key: {other['key']}: this key does not match the "
            f"certificate in {ca['cert']}") in r.stderr, r.stderr


def make_cert(workdir, name, not_before, not_after):
    """A self-signed certificate with the given validity, made with
    python3-cryptography (the openssl command cannot date one in the past)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.example.test")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = workdir / f"{name}.crt", workdir / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_expired_and_not_yet_valid_certificates(make_postern, workdir):
    now = datetime.datetime.utcnow().replace(microsecond=0)
    day = datetime.timedelta(days=1)
    cert, key = make_cert(workdir, "expired", now - 10 * day, now - 2 * day)
    p = tls_conf(make_postern, workdir, cert, key)
    r = check(p.conf_path)
    n = line_of(p.conf_path, "cert = ")
    when = (now - 2 * day).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert r.returncode == 1
    assert f"postern.conf:{n}: [tls] cert: {cert}: the certificate expired on {when}" \
        in r.stderr, r.stderr
    cert, key = make_cert(workdir, "future", now + 2 * day, now + 10 * day)
    p = make_postern({"tls": {"cert": cert, "key": key}}, start=False, subdir="future")
    r = check(p.conf_path)
    when = (now + 2 * day).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert r.returncode == 1
    assert f"{cert}: the certificate is not valid before {when}" in r.stderr, r.stderr
    # The same kind of certificate, valid now, passes.
    cert, key = make_cert(workdir, "valid", now - day, now + day)
    p = make_postern({"tls": {"cert": cert, "key": key}}, start=False, subdir="valid")
    r = check(p.conf_path)
    assert r.returncode == 0, r.stderr


def test_nul_in_users_file_is_named(make_postern):
    p = make_postern(start=False)
    users = p.dir / "users"
    users.write_bytes(b"alice@example.test:!\nbob@example.test:$y$abc\0junk\n")
    r = check(p.conf_path)
    assert r.returncode == 1
    assert f"{users}:2: NUL character in the line" in r.stderr, r.stderr
