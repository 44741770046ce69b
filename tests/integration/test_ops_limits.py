"""Per-listener connection shares and eviction of idle port 25 sessions
(issue 11): 100 addresses x 20 idle sockets on port 25 locked users out of
submission and POP3. Each service now has its own share of [limits]
connections (connections_smtp, connections_submission, ... ), and when the
smtp share or the whole is full, the oldest idle, unauthenticated port 25
session is closed with 421 4.7.0 to make room."""
import pytest

from conftest import Raw, free_port
from pop3env import RawPop3, pop3_server


def server(make_postern, workdir, limits):
    p = pop3_server(make_postern, workdir, {"limits": dict(limits, connections_per_ip="100")},
                    start=False)
    p.sub_port = free_port()
    p.settings["listen"]["submission"] = f"127.0.0.1:{p.sub_port}"
    p.write_conf()
    return p.start()


def busy(port):
    """A port 25 session inside a transaction: never closed to make room."""
    c = Raw(port)
    c.ehlo()
    c.expect("MAIL FROM:<x@remote.test>", 250)
    return c


def idle(port):
    c = Raw(port)
    c.ehlo()
    return c


def refused_421(port):
    with Raw(port, greet=False) as c:
        code, text = c.reply()
        assert code == 421 and text.startswith(b"4.7.0"), text
        assert c.closed()


def evicted(c):
    code, text = c.reply()
    assert code == 421 and text.startswith(b"4.7.0") and b"idle" in text, text
    assert c.closed()


def still_alive(c):
    c.expect("NOOP", 250)


def test_port_25_full_submission_and_pop3_still_accept(make_postern, workdir):
    p = server(make_postern, workdir, {"connections": "10", "connections_smtp": "4"})
    held = [busy(p.port) for _ in range(4)]
    refused_421(p.port)
    assert "service=smtp client=127.0.0.1 reason=service_limit limit=4" in p.log()
    # The other listeners have their own shares.
    with Raw(p.sub_port) as sub:
        assert sub.greeting[0] == 220
        sub.expect("EHLO client.test", 250)
    with RawPop3(p.pop3s_port, ca=p.ca, implicit_tls=True) as pop:
        assert pop.greeting.startswith(b"+OK")
        pop.ok("CAPA")
        pop.multiline()
    for h in held:
        still_alive(h)
        h.close()


def test_default_shares_keep_room_for_the_others(make_postern, workdir):
    """Without connections_smtp, port 25 gets 3/4 of the whole."""
    p = server(make_postern, workdir, {"connections": "8"})
    held = [busy(p.port) for _ in range(6)]
    refused_421(p.port)
    subs = [Raw(p.sub_port) for _ in range(2)]
    assert all(s.greeting[0] == 220 for s in subs)
    for c in held + subs:
        c.close()


def test_smtp_share_full_of_idle_sessions_oldest_is_evicted(make_postern, workdir):
    p = server(make_postern, workdir, {"connections": "10", "connections_smtp": "3"})
    first, second = idle(p.port), idle(p.port)
    tx = busy(p.port)
    with Raw(p.port) as newcomer:  # room made: the oldest idle one goes
        assert newcomer.greeting[0] == 220
        evicted(first)
        still_alive(second)
        still_alive(tx)
        newcomer.ehlo()
    assert "event=connection_evicted service=smtp" in p.log()
    for c in (second, tx):
        c.close()


def test_whole_full_idle_port_25_sessions_go_first(make_postern, workdir):
    p = server(make_postern, workdir, {"connections": "6", "connections_smtp": "6",
                                       "connections_pop3s": "6", "connections_submission": "6"})
    old1 = idle(p.port)
    old2 = Raw(p.port)  # greeted, not even EHLO yet: idle as well
    tx = [busy(p.port) for _ in range(2)]
    pops = [RawPop3(p.pop3s_port, ca=p.ca, implicit_tls=True) for _ in range(2)]
    assert all(x.greeting.startswith(b"+OK") for x in pops)
    # Full: a submission client gets in, the oldest idle port 25 session goes.
    sub = Raw(p.sub_port)
    assert sub.greeting[0] == 220
    evicted(old1)
    still_alive(old2)
    # And a POP3 client: the next idle one goes.
    pop = RawPop3(p.pop3s_port, ca=p.ca, implicit_tls=True)
    assert pop.greeting.startswith(b"+OK")
    evicted(old2)
    # Nothing idle is left on port 25: refused, nobody else is touched.
    refused_421(p.port)
    with pytest.raises((EOFError, ConnectionResetError, OSError)):
        RawPop3(p.pop3s_port, ca=p.ca, implicit_tls=True)
    assert "reason=total_limit limit=6" in p.log()
    for c in tx:
        still_alive(c)
        c.expect("RCPT TO:<alice@example.test>", 250)
    for x in pops + [pop]:
        x.ok("CAPA")
        x.multiline()
    sub.expect("EHLO client.test", 250)
    for c in tx + pops + [pop, sub]:
        c.close()
    assert p.log().count("event=connection_evicted") == 2


def test_authenticated_or_busy_sessions_are_never_evicted(make_postern, workdir):
    """A session inside DATA is not idle either."""
    p = server(make_postern, workdir, {"connections": "2", "connections_smtp": "2"})
    a = busy(p.port)
    a.expect("RCPT TO:<alice@example.test>", 250)
    a.expect("DATA", 354)
    b = busy(p.port)
    refused_421(p.port)
    a.send(b"Subject: kept\r\n\r\nbody\r\n.\r\n")
    assert a.reply()[0] == 250
    still_alive(b)
    a.close()
    b.close()
    p.wait_messages("alice@example.test", 1)
