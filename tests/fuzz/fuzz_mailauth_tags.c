/* Fuzzes the tag-list parser shared by DKIM signatures, DKIM key records
 * and DMARC records, and the DMARC record parser on top of it. Invariants
 * for an accepted list: names are ALPHA *(ALPHA / DIGIT / "_") and unique,
 * values lie inside the input, hold no ';' and no CR or LF outside
 * folding, and neither start nor end with whitespace; the compacted value
 * is the value without whitespace. A DMARC record that parses has a
 * tag-list whose first tag is v=DMARC1, and pct <= 100. */
#include <stdint.h>
#include <string.h>

#include "mailauth/dmarc.h"
#include "mailauth/taglist.h"

static bool wsp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct taglist tl;
    struct dmarc_record dr;
    bool dmarc_ok = dmarc_record_parse(s, size, &dr) == NULL;
    if (dmarc_ok && (dr.pct > 100 || dr.p > DMARC_POLICY_REJECT || dr.sp > DMARC_POLICY_REJECT))
        __builtin_trap();
    if (taglist_parse(s, size, &tl) != NULL) {
        if (dmarc_ok)
            __builtin_trap();
        return 0;
    }
    if (tl.n > TAGLIST_MAX)
        __builtin_trap();
    if (dmarc_ok && (tl.n == 0 || tl.tag[0].name_len != 1 || tl.tag[0].name[0] != 'v' ||
                     !taglist_value_is(&tl.tag[0], "DMARC1", false)))
        __builtin_trap();
    for (size_t i = 0; i < tl.n; i++) {
        const struct taglist_tag *t = &tl.tag[i];
        if (t->name < s || t->name + t->name_len > s + size || t->name_len == 0)
            __builtin_trap();
        if (t->value < s || t->value + t->value_len > s + size)
            __builtin_trap();
        char c0 = t->name[0];
        if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z')))
            __builtin_trap();
        for (size_t k = 0; k < t->name_len; k++) {
            char c = t->name[k];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_'))
                __builtin_trap();
        }
        if (t->value_len > 0 && (wsp(t->value[0]) || wsp(t->value[t->value_len - 1])))
            __builtin_trap();
        size_t nonspace = 0;
        for (size_t k = 0; k < t->value_len; k++) {
            char c = t->value[k];
            if (c == ';' || (unsigned char)c >= 0x7f || c == '\0')
                __builtin_trap();
            /* CR only as CRLF followed by whitespace (folding). */
            if (c == '\r' && (k + 2 >= t->value_len || t->value[k + 1] != '\n' ||
                              (t->value[k + 2] != ' ' && t->value[k + 2] != '\t')))
                __builtin_trap();
            if (c == '\n' && (k == 0 || t->value[k - 1] != '\r'))
                __builtin_trap();
            nonspace += !wsp(c);
        }
        struct buf compact;
        buf_init(&compact);
        taglist_value_compact(t, &compact);
        if (compact.len != nonspace)
            __builtin_trap();
        buf_free(&compact);
        for (size_t k = 0; k < i; k++)
            if (tl.tag[k].name_len == t->name_len &&
                memcmp(tl.tag[k].name, t->name, t->name_len) == 0)
                __builtin_trap();
        if (t->name_len < 32) {
            char name[32];
            memcpy(name, t->name, t->name_len);
            name[t->name_len] = '\0';
            if (taglist_find(&tl, name) != t)
                __builtin_trap();
        }
    }
    return 0;
}
