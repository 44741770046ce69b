"""Issue 11: SIGHUP in a root deployment re-reads the TLS and DKIM keys as
the service user, so the keys must be in the modes Postern makes and
documents (root:SERVICE-GROUP 0640, as `dkim keygen` writes them when run
by root); `postern check` says when a file will not be readable then."""
import grp
import os
import pwd
import signal
import stat
import subprocess

from conftest import BIN as _BIN, wait_until
from tlsenv import submission_server

BIN = os.path.abspath(_BIN)
POSTERN_GID = pwd.getpwnam("postern").pw_gid


def keygen(workdir):
    r = subprocess.run([BIN, "dkim", "keygen", "example.test", "sel", "--dir", str(workdir)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    key = workdir / "example.test.sel.key"
    assert b"mode 0640, owner root, group " + grp.getgrgid(POSTERN_GID).gr_name.encode() in r.stderr
    return key


def server(make_postern, workdir):
    key = keygen(workdir)
    p = submission_server(make_postern, workdir,
                          {"dkim": {"example.test": f"sel:{key}"}}, start=False)
    tls_key = p.settings["tls"]["key"]
    os.chown(tls_key, 0, POSTERN_GID)
    os.chmod(tls_key, 0o640)
    return p, key, tls_key


def check(p):
    r = subprocess.run([BIN, "-c", str(p.conf_path), "check"], capture_output=True, timeout=60)
    for marker in (b"ERROR: AddressSanitizer", b"runtime error:", b"ERROR: LeakSanitizer"):
        assert marker not in r.stderr
    return r


def test_sighup_rereads_keys_in_the_documented_modes(make_postern, workdir):
    p, key, tls_key = server(make_postern, workdir)
    st = key.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, POSTERN_GID)
    r = check(p)
    assert r.returncode == 0 and b"warning" not in r.stderr, r.stderr
    p.start()
    assert "event=privileges_dropped" in p.log()
    p.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "event=reloaded" in p.log() or "event=reload_failed" in p.log(),
               what="a reload")
    assert "event=reload_failed" not in p.log(), p.log()
    assert "tls=yes" in p.log().split("event=reloaded")[1]


def test_check_warns_about_a_key_the_service_user_cannot_read(make_postern, workdir):
    p, key, tls_key = server(make_postern, workdir)
    os.chmod(key, 0o600)
    os.chown(tls_key, 0, 0)
    r = check(p)
    assert r.returncode == 0, r.stderr  # the daemon starts: it reads them as root
    err = r.stderr.decode()
    assert f"warning: {key}: Permission denied (not readable by user postern" in err, err
    assert f"warning: {tls_key}: Permission denied" in err, err
    assert "SIGHUP reload would fail" in err
    # which is what happens
    p.start()
    p.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "event=reload_failed" in p.log(), what="a refused reload")
