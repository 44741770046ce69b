/*
 * session: what every server session (smtpd, pop3d, imapd) has in common,
 * so each protocol keeps only its state machine and its replies:
 *   - the connection, the client address, the service, the TLS description;
 *   - a configuration snapshot taken at the start and kept to the end, so
 *     one session sees one configuration (SIZE at MAIL and the decoder at
 *     DATA agree even across a SIGHUP): read limits through s->snap->conf;
 *   - the daemon's registry of live sessions (d->session_list, d->sessions:
 *     the count lifecycle and [limits] connections use);
 *   - the input loop: line mode (complete lines of at most ops->line_max
 *     octets to on_line; too long or a bare LF to on_line_error) and raw
 *     mode (octets as they come to on_raw, which says how many it took:
 *     SMTP DATA and BDAT, IMAP literals); input waits while the protocol is
 *     busy (a worker runs), holds (a message is being sent), or closes;
 *   - the idle deadline, re-armed after each line and while busy;
 *   - "too many errors" against [limits] bad_commands;
 *   - a pause of the input after an error reply ([limits] error_delay);
 *   - graceful shutdown and the close-all at exit, over the registry;
 *   - close-after-write, eviction, the release of the connection slot.
 * The skeleton never writes a reply: reply syntax (SMTP codes, POP3
 * +OK/-ERR, IMAP tags) stays in the protocol, which writes through
 * conn_write() and conn_printf().
 *
 * A protocol embeds the skeleton as its first member with SESSION_EMBED;
 * the skeleton's fields are then both s->base.X and s->X:
 *
 *   struct pop3d_session { SESSION_EMBED; enum pop3d_state state; ... };
 *   s = (struct pop3d_session *)session_new(d, sizeof(*s), &pop3d_ops, ...);
 *
 * session_new() allocates (zeroed) and registers it; session_free() calls
 * ops->on_free for the protocol's parts and frees it. Callbacks run from
 * the event loop; the only ones that run inside a session_* call the
 * protocol made are the input hooks (inside session_process_input) and
 * on_too_many_errors (inside session_bad_command). The union of
 * SESSION_EMBED is there so that protocol code reads s->conn, s->ip, s->d
 * as before, with one copy of each.
 */
#ifndef POSTERN_SESSION_SESSION_H
#define POSTERN_SESSION_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "proto/line.h"

struct conn;
struct daemon;
struct event;
struct snapshot;
struct session;
typedef struct ssl_ctx_st SSL_CTX;

/* What the input loop does with buffered input, asked of the protocol
 * (ops->input) before each step, so it follows the protocol's state. */
enum session_input {
    SESSION_INPUT_LINE, /* complete lines to on_line */
    SESSION_INPUT_RAW,  /* octets to on_raw */
    SESSION_INPUT_BUSY, /* our own work runs: input waits, the deadline re-arms */
    SESSION_INPUT_HOLD, /* input waits; a deadline goes to on_timeout */
};

struct session_ops {
    const char *proto; /* "smtp", "pop3": the event=PROTO_too_many_errors log */
    enum session_input (*input)(struct session *s);
    /* Line mode. The longest line (CRLF included) in the current state. */
    size_t (*line_max)(struct session *s);
    /* One line; more_input tells whether input waits behind it (pipelining
     * checks). False stops the loop (waiting, closing); the loop resumes
     * with session_process_input(). The line is wiped afterwards. */
    bool (*on_line)(struct session *s, const char *line, size_t len, bool more_input);
    /* The protocol replies to a line too long (max is the limit) or with a
     * bare LF; the skeleton then counts a bad command. */
    void (*on_line_error)(struct session *s, enum line_result error, size_t max);
    /* Raw mode: returns how many octets it took (0: stop until called again). */
    size_t (*on_raw)(struct session *s, const char *data, size_t len);
    /* Past [limits] bad_commands (already logged): the last reply, and
     * session_close_after_write(). */
    void (*on_too_many_errors)(struct session *s);
    /* The deadline passed in line, raw or hold mode (never while busy or
     * paused: then it is re-armed). */
    void (*on_timeout)(struct session *s);
    /* Optional: session_pause_input() ended; input is read again after it. */
    void (*on_resume)(struct session *s);
    /* Optional: conn_notify_drained()'s mark was reached. */
    void (*on_drained)(struct session *s);
    /* Optional: a TLS handshake finished (s->tls_info is set). */
    void (*on_tls_done)(struct session *s);
    /* Optional: shutdown begins (close now, or let the work in hand end). */
    void (*on_shutdown)(struct session *s);
    /* Optional: the daemon exits and frees the session now: last words. */
    void (*on_close_all)(struct session *s);
    /* The connection is gone (peer, error, or our close done): logs it.
     * True keeps the session without its connection (s->conn becomes NULL)
     * until the protocol calls session_free(); false frees it now. */
    bool (*on_close)(struct session *s, const char *why);
    /* Frees the protocol's parts (the skeleton frees the rest). */
    void (*on_free)(struct session *s);
};

#define SESSION_MEMBERS                                                                            \
    struct daemon *d;                                                                              \
    const struct session_ops *ops;                                                                 \
    struct session *prev, *next; /* d->session_list, newest first */                               \
    struct conn *conn;           /* NULL once gone (see on_close) */                               \
    struct snapshot *snap;       /* the configuration of this session */                           \
    enum service service;                                                                          \
    char ip[64];                                                                                   \
    char tls_info[128];             /* "TLSv1.3 CIPHER" once TLS is up, else "" */                 \
    struct line_reader line_reader; /* the input loop's, in line mode */                           \
    unsigned bad_commands;                                                                         \
    unsigned idle_ms; /* the deadline armed after each line (and while busy) */                    \
    bool closing;     /* session_close_after_write() was called */                                 \
    bool evicted;     /* the connection slot is released (eviction) */                             \
    bool paused;      /* session_pause_input() runs */                                             \
    struct event *pause_timer

struct session {
    SESSION_MEMBERS;
};

/* The protocol's first member: the skeleton as s->base, its fields as s->X. */
#define SESSION_EMBED                                                                              \
    union {                                                                                        \
        struct session base;                                                                       \
        struct {                                                                                   \
            SESSION_MEMBERS;                                                                       \
        };                                                                                         \
    }

/* Allocates size octets (zeroed; size >= sizeof(struct session)), takes a
 * snapshot reference, creates the connection on fd (implicit TLS when
 * implicit_tls is set), registers the session and logs event=connect.
 * idle_ms is 0 until the protocol sets it. */
struct session *session_new(struct daemon *d, size_t size, const struct session_ops *ops,
                            enum service svc, int fd, const struct sockaddr *sa, socklen_t salen,
                            SSL_CTX *implicit_tls);
/* Unregisters, releases the slot, calls ops->on_free, frees everything. */
void session_free(struct session *s);

/* Runs the input loop over what is buffered (after an asynchronous step). */
void session_process_input(struct session *s);
/* Arms the idle deadline (s->idle_ms) now. */
void session_arm_idle(struct session *s);
/* Counts a protocol error; past [limits] bad_commands logs
 * event=PROTO_too_many_errors and calls ops->on_too_many_errors. */
void session_bad_command(struct session *s);
/* Reads no input for ms (the deadline waits too), then ops->on_resume. */
void session_pause_input(struct session *s, unsigned ms);
/* Stops reading; closes once what was written is out (on_close "done"). */
void session_close_after_write(struct session *s);
/* Frees the connection slot now (eviction: the session is closing). */
void session_release_slot(struct session *s);

/* Shutdown begins: ops->on_shutdown for every live session. */
void session_shutdown_begin(struct daemon *d);
/* The daemon exits: ops->on_close_all, then each session is freed. */
void session_close_all(struct daemon *d);

#endif
