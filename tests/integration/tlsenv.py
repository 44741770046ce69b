"""A throwaway test CA and a submission-ready Postern, made with real tools:
the `openssl` command for the certificates and `postern user add` for the
password hashes."""
import os
import pathlib
import ssl
import subprocess

from conftest import BIN

PASSWORDS = {
    "alice@example.test": "alice-secret-1",
    "bob@example.test": "bob-secret-2",
}


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


def make_ca(d):
    """CA plus a server certificate for mx.example.test and 127.0.0.1."""
    d = pathlib.Path(d)
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = d / "ca.key", d / "ca.crt"
    key, csr, crt = d / "server.key", d / "server.csr", d / "server.crt"
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
        "-out", str(ca_crt), "-days", "2", "-subj", "/CN=Postern Test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=mx.example.test")
    ext = d / "ext.cnf"
    ext.write_text("subjectAltName=DNS:mx.example.test,IP:127.0.0.1\n"
                   "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext))
    os.chmod(key, 0o644)  # read by the daemon before it drops privileges; test only
    return {"ca": str(ca_crt), "cert": str(crt), "key": str(key)}


def client_context(ca):
    """What a careful mail client does: trust only our CA, check the name."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = True
    return ctx


def add_user(conf_path, addr, password):
    return subprocess.run([BIN, "-c", str(conf_path), "user", "add", addr, "--password-stdin"],
                          input=(password + "\n").encode(), capture_output=True)


def submission_server(make_postern, workdir, settings=None, start=True):
    """A Postern with smtp, submission (587-style) and submissions (465-style)
    listeners, a test CA's certificate and users with real passwords."""
    from conftest import free_port
    ca = make_ca(workdir / "ca")
    sub_port, subs_port = free_port(), free_port()
    base = {
        "tls": {"cert": ca["cert"], "key": ca["key"]},
        "auth": {"failure_delay": "50ms"},
    }
    for section, values in (settings or {}).items():
        base.setdefault(section, {}).update(values)
    p = make_postern(base, users=["carol@example.org"], start=False)
    p.settings["listen"]["submission"] = f"127.0.0.1:{sub_port}"
    p.settings["listen"]["submissions"] = f"127.0.0.1:{subs_port}"
    p.write_conf()
    for addr, pw in PASSWORDS.items():
        r = add_user(p.conf_path, addr, pw)
        assert r.returncode == 0, r.stderr
    p.sub_port, p.subs_port, p.ca = sub_port, subs_port, ca["ca"]
    if start:
        p.start()
    return p
