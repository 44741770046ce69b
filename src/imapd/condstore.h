/*
 * condstore: CONDSTORE and QRESYNC (RFC 7162) in the IMAP commands. The
 * store keeps the modseqs and the expunge history (store.h); this is what
 * the protocol makes of them:
 *
 * - a session becomes CONDSTORE-aware with its first "enabling command"
 *   (ENABLE CONDSTORE or QRESYNC, SELECT/EXAMINE (CONDSTORE), STATUS
 *   HIGHESTMODSEQ, FETCH MODSEQ or CHANGEDSINCE, SEARCH MODSEQ, STORE
 *   UNCHANGEDSINCE); from then on every FETCH response that reports flags
 *   carries UID and MODSEQ, SELECT reports HIGHESTMODSEQ, and the first
 *   such command while a folder is selected reports it too (RFC 7162 3.1);
 * - ENABLE QRESYNC also makes expunges VANISHED responses (UIDs) instead
 *   of EXPUNGE (sequence numbers), and allows SELECT (QRESYNC (...)) and
 *   UID FETCH ... (CHANGEDSINCE m VANISHED).
 */
#ifndef POSTERN_IMAPD_CONDSTORE_H
#define POSTERN_IMAPD_CONDSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/imap_parse.h"
#include "proto/imap_seqset.h"
#include "store/store.h"
#include "util/buf.h"

struct imapd_session;
struct imapd_selected;
struct imapd_view_msg;

/* The largest mod-sequence value (RFC 7162: 63 bits). */
#define IMAPD_MODSEQ_MAX INT64_MAX

/* SELECT and EXAMINE's parameters (RFC 7162 3.1.8, 3.2.5). */
struct imapd_select_params {
    bool condstore;
    bool qresync; /* QRESYNC (uidvalidity modseq [known-uids [seq-match]]) */
    uint32_t uidvalidity;
    uint64_t modseq;
    struct imap_seqset known_uids; /* n 0: all */
};

/* A mod-sequence value in an atom: digits, at most IMAPD_MODSEQ_MAX, and
 * not 0 unless zero_ok (mod-sequence-valzer). */
bool imapd_modseq_parse(const struct imap_arg *a, bool zero_ok, uint64_t *out);

/* On the loop: the session's first CONDSTORE enabling command. With a
 * folder selected that was not CONDSTORE-aware yet, "* OK [HIGHESTMODSEQ
 * n]" is sent now. */
void imapd_condstore_enable(struct imapd_session *s);
/* ENABLE QRESYNC (which enables CONDSTORE too). */
void imapd_qresync_enable(struct imapd_session *s);

/* The parameter list of SELECT/EXAMINE into p; false after a BAD. */
bool imapd_select_params_parse(struct imapd_session *s, const struct imap_arg *list,
                               struct imapd_select_params *p);
void imapd_select_params_free(struct imapd_select_params *p);
/* In SELECT's worker, after the usual responses: HIGHESTMODSEQ, and for
 * QRESYNC with the folder's UIDVALIDITY the expunges since the client's
 * modseq (VANISHED (EARLIER)) and every message changed since (FETCH). */
void imapd_select_resync(struct imapd_selected *sel, const struct imapd_select_params *p,
                         struct buf *out);

/* "* VANISHED [(EARLIER) ]set\r\n", nothing when r is empty. */
void imapd_vanished_format(struct buf *out, bool earlier, const struct store_uid_ranges *r);
/* The UIDs expunged since modseq within the UID set (star: the folder's
 * last UID), as VANISHED (EARLIER). */
void imapd_vanished_since(struct imapd_selected *sel, uint64_t modseq,
                          const struct imap_seqset *uids, struct buf *out);

/* "* seq FETCH (UID u FLAGS (...) MODSEQ (m))\r\n" for a flag change: UID
 * and MODSEQ when the folder is CONDSTORE-aware (and UID when uid),
 * FLAGS unless silent (STORE .SILENT: then only for CONDSTORE). */
void imapd_flags_response(struct buf *out, const struct imapd_selected *sel, size_t seq,
                          const struct imapd_view_msg *v, uint64_t modseq, bool uid, bool silent);

#endif
