"""TLS to the smarthost: [relay] smarthost_tls = verify (the default with a
smarthost), encrypt and may, [relay] ca_file, and the rule that the
smarthost password never goes over a connection that was not verified.
The certificates come from a test CA made with the openssl command."""
import pathlib
import ssl
import subprocess

from conftest import BIN, wait_until
from relay_env import host_records, relay, self_signed, send  # noqa: F401
from tlsenv import make_ca, run

PASSWORD = "s3cret pass"


def signed_for(ca_dir, name):
    """A certificate for name signed by the test CA in ca_dir; a server context."""
    d = pathlib.Path(ca_dir)
    key, csr, crt = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt"
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", f"/CN={name}")
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(d / "ca.crt"), "-CAkey",
        str(d / "ca.key"), "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    return ctx


def world(relay, workdir, tls_ctx, relay_conf=None, auth=True):
    """A smarthost smart.test (127.0.0.7) with the given TLS context (None:
    no STARTTLS) wanting AUTH, and a postern sending through it."""
    relay.start_dns(host_records("smart.test", "127.0.0.7"))
    smart = relay.peer("127.0.0.7")
    smart.tls_context = tls_ctx
    conf = {"smarthost": f"smart.test:{relay.port}"}
    if auth:
        smart.auth = ("relayuser", PASSWORD)
        conf.update({"smarthost_user": "relayuser", "smarthost_password": PASSWORD})
    conf.update(relay_conf or {})
    p = relay.postern({"relay": conf}, aliases=["fwd@example.test: a@one.test"])
    return smart, p


def queue_list(p):
    return subprocess.run([BIN, "-c", str(p.conf_path), "queue", "list"], capture_output=True,
                          text=True).stdout


def assert_deferred_untouched(smart, p, text):
    wait_until(lambda: "event=deferred" in p.log(), what=p.log())
    log = p.log()
    assert text in log, log
    # The deferral names the server it talked to (it said relay=none before).
    [line] = [line for line in log.splitlines() if "event=deferred" in line]
    assert "relay=smart.test addr=127.0.0.7:" in line, line
    assert smart.auth_seen == [] and smart.transactions == []
    assert not any(c.upper().startswith(("AUTH", "MAIL")) for c in smart.commands), smart.commands
    assert PASSWORD not in log
    assert len(p.queue_ids()) == 1
    wait_until(lambda: text in queue_list(p), what=queue_list(p))


def test_verified_smarthost_gets_the_password(relay, workdir):
    ca = make_ca(workdir / "ca")
    smart, p = world(relay, workdir, signed_for(workdir / "ca", "smart.test"),
                     {"ca_file": ca["ca"]})  # smarthost_tls = verify by default
    send(p, "fwd@example.test")
    [tx] = smart.wait_transactions(1, log=p.log)
    assert tx.tls
    assert smart.auth_seen == [("relayuser", PASSWORD, True)]
    assert "verified=yes policy=verify" in p.log()
    wait_until(lambda: p.queue_ids() == [], what=p.log())


def test_self_signed_smarthost_is_refused(relay, workdir):
    ca = make_ca(workdir / "ca")
    smart, p = world(relay, workdir, self_signed(workdir, cn="smart.test"), {"ca_file": ca["ca"]})
    send(p, "fwd@example.test")
    assert_deferred_untouched(smart, p, "TLS certificate verification failed for smarthost "
                                        "smart.test[127.0.0.7]")
    assert "self-signed certificate" in p.log() or "self signed certificate" in p.log()


def test_wrong_name_is_refused(relay, workdir):
    ca = make_ca(workdir / "ca")
    smart, p = world(relay, workdir, signed_for(workdir / "ca", "other.test"),
                     {"ca_file": ca["ca"], "smarthost_tls": "verify"})
    send(p, "fwd@example.test")
    assert_deferred_untouched(smart, p, "TLS certificate verification failed for smarthost")
    assert "hostname mismatch" in p.log(), p.log()


def test_system_store_does_not_know_the_test_ca(relay, workdir):
    make_ca(workdir / "ca")
    smart, p = world(relay, workdir, signed_for(workdir / "ca", "smart.test"))  # no ca_file
    send(p, "fwd@example.test")
    assert_deferred_untouched(smart, p, "TLS certificate verification failed for smarthost")


def test_verify_needs_starttls(relay, workdir):
    smart, p = world(relay, workdir, None, auth=False)
    send(p, "fwd@example.test")
    assert_deferred_untouched(smart, p, "TLS is required for smarthost smart.test[127.0.0.7]:"
                                        f"{relay.port} ([relay] smarthost_tls = verify): it does not offer "
                                        "STARTTLS")


def test_encrypt_accepts_any_certificate_inside_tls(relay, workdir):
    smart, p = world(relay, workdir, self_signed(workdir, cn="smart.test"),
                     {"smarthost_tls": "encrypt"})
    send(p, "fwd@example.test")
    [tx] = smart.wait_transactions(1, log=p.log)
    assert tx.tls and smart.auth_seen == [("relayuser", PASSWORD, True)]
    assert "policy=encrypt" in p.log()


def test_encrypt_still_needs_tls(relay, workdir):
    smart, p = world(relay, workdir, None, {"smarthost_tls": "encrypt"}, auth=False)
    send(p, "fwd@example.test")
    assert_deferred_untouched(smart, p, "([relay] smarthost_tls = encrypt)")


def test_may_sends_no_password_over_unverified_tls(relay, workdir):
    smart, p = world(relay, workdir, self_signed(workdir, cn="smart.test"),
                     {"smarthost_tls": "may"})
    send(p, "fwd@example.test")
    assert_deferred_untouched(smart, p, "the TLS certificate was not verified")


def test_may_without_password_is_opportunistic(relay, workdir):
    smart, p = world(relay, workdir, self_signed(workdir, cn="smart.test"),
                     {"smarthost_tls": "may"}, auth=False)
    send(p, "fwd@example.test")
    [tx] = smart.wait_transactions(1, log=p.log)
    assert tx.tls


def test_mx_delivery_stays_opportunistic(relay, workdir):
    # No smarthost: a self-signed MX still gets the message over TLS.
    relay.start_dns("--mx-host=remote.test,mx.remote.test,10",
                    host_records("mx.remote.test", "127.0.0.2"))
    peer = relay.peer("127.0.0.2")
    peer.tls_context = self_signed(workdir)
    p = relay.postern(aliases=["fwd@example.test: a@remote.test"])
    send(p, "fwd@example.test")
    [tx] = peer.wait_transactions(1, log=p.log)
    assert tx.tls and "policy=may" in p.log()


def test_check_validates_the_keys(make_postern, workdir):
    ca = make_ca(workdir / "ca")
    cases = [("smarthost_tls", "sometimes", "expected verify, encrypt or may"),
             ("ca_file", str(workdir / "missing.pem"), "cannot read")]
    for key, value, text in cases:
        p = make_postern({"relay": {"smarthost": "smart.test", key: value}}, start=False,
                         subdir=f"bad-{key}")
        r = subprocess.run([BIN, "-c", str(p.conf_path), "check"], capture_output=True, text=True)
        assert r.returncode == 1, r.stderr
        lines = p.conf_path.read_text().splitlines()
        n = next(i + 1 for i, line in enumerate(lines) if line.startswith(f"{key} = "))
        assert f"postern.conf:{n}: [relay] {key}:" in r.stderr and text in r.stderr, r.stderr
    for value in ["verify", "encrypt", "may", "VERIFY"]:
        p = make_postern({"relay": {"smarthost": "smart.test", "smarthost_tls": value,
                                    "ca_file": ca["ca"]}}, start=False, subdir=f"ok-{value}")
        r = subprocess.run([BIN, "-c", str(p.conf_path), "check"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
