/*
 * mailbox: a POP3 session's snapshot of one Maildir (new/ and cur/) and the
 * changes it applies at QUIT. Every function that takes a path or a mailbox
 * touches the file system and may block: call it from a worker, never on
 * the event loop.
 *
 * Sizes come from the file names, never from the bodies: ",W=<n>" (the CRLF
 * size, as Dovecot writes it and deliver/maildir.c now does). A name without
 * W= is measured once by reading the file (pop3_msg_count), in the worker.
 * The unique id (UIDL) is the base name before ',' or ':', so it survives
 * the move from new/ to cur/ and any flag change; a base name that is not a
 * valid UIDL (RFC 1939 7: 1-70 octets 0x21-0x7e) is replaced by a hash.
 */
#ifndef POSTERN_POP3D_MAILBOX_H
#define POSTERN_POP3D_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/pop3_parse.h"

struct pop3d_msg {
    char *name; /* file name in new/ or cur/ */
    char uid[POP3_UIDL_MAX + 1];
    uint64_t size; /* CRLF octets: what LIST and STAT report */
    bool in_cur;
    bool deleted;   /* DELE: unlinked at QUIT */
    bool retrieved; /* RETR: moved from new/ to cur/ (":2,S") at QUIT */
};

struct pop3d_mailbox {
    char *path; /* data_dir/mail/DOMAIN/LOCALPART */
    struct pop3d_msg *msgs;
    size_t n;
    size_t measured; /* messages whose size had to be read from the file */
};

struct pop3d_update_result {
    size_t removed;
    size_t moved;
    size_t failed; /* deletions that did not happen */
};

/* Reads the Maildir at path (a missing one is empty), sorted by name, which
 * is delivery order. Returns 0 and *box_r, or an errno value. */
int pop3d_mailbox_scan(const char *path, struct pop3d_mailbox **box_r);
void pop3d_mailbox_free(struct pop3d_mailbox **box);

/* Parses a Maildir file name (pure): the unique id, and the ",W=" size if
 * there is one. Returns false if the name is not a message (dot files). */
bool pop3d_mailbox_parse_name(const char *name, char uid_r[POP3_UIDL_MAX + 1], uint64_t *wsize_r,
                              bool *has_w_r);

/* Opens a message for reading. If another Maildir reader renamed it (a flag
 * change, or new/ to cur/), finds it again by its base name; then
 * *moved_r (caller frees) is its name relative to the Maildir, such as
 * "cur/NAME:2,S". Returns the fd, or -errno. */
int pop3d_mailbox_open(const char *path, const char *rel_name, char **moved_r);

/* QUIT (the UPDATE state): unlinks the deleted messages, moves the
 * retrieved ones from new/ to cur/ with ":2,S", then syncs the
 * directories. */
void pop3d_mailbox_update(struct pop3d_mailbox *box, struct pop3d_update_result *r);

/* The path of message i relative to the Maildir: "new/NAME" or "cur/NAME"
 * (caller frees). */
char *pop3d_mailbox_rel(const struct pop3d_mailbox *box, size_t i);

#endif
