/*
 * tapwatch.sources._fastpage: the normaliser's per-value loop in C.
 *
 * `codes(column, base, out)` gives each value of a string column a dense code: the
 * distinct strings, in the order of their first appearance, get base, base + 1, ...;
 * None gets -1. The codes are written into `out` (a writable buffer of n int32) and the
 * distinct strings are returned as a list, exactly what `EventNormaliser._coded` computes
 * with `dict.fromkeys` and `itemgetter` in Python (tapwatch.sources.normalise), the
 * reference this module must match value for value.
 *
 * Only exact `str` and None are taken: anything else (a str subclass, whose equality
 * could be its own, or any other object) raises TypeError and the caller takes the Python
 * path. Strings are hashed with CPython's own keyed hash (PyObject_Hash, cached in the
 * string): a page crafted to collide cannot make the table quadratic any more than it can
 * a dict. Equal strings are found by hash, length, kind and bytes: CPython keeps every
 * string in its one canonical (smallest) kind, so equal strings have equal bytes.
 *
 * `transpose(events, type, fields)` gives the fields of a list of msgspec Structs as
 * columns (one tuple per field), what `zip(*map(msgspec.structs.astuple, events))` gives,
 * reading each field's slot through its member descriptor instead of building a tuple
 * per event. Every event must be exactly `type`, every field one of its object slots set
 * (msgspec's decoder sets them all); anything else raises TypeError (the Python path).
 *
 * `rfc3339(column, out, lowest, highest)` writes the epoch seconds of each string of the
 * canonical shape YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM), a valid date and time in
 * [lowest, highest), into `out`; NaN for every other value, which the caller parses the
 * reference way (tapwatch.timestamps). The value is the whole microseconds since the
 * epoch divided by 10**6, as `datetime.timestamp()` computes it (a correctly rounded
 * division of an integer below 2**53: the same float).
 *
 * `all_none(column)` says whether every value is None: True, False where a value is an
 * exact str, float or int (never equal to None), None (not known) where it meets any other
 * object, which the caller then compares the Python way (`count(None)`).
 *
 * `page(body, lowest, highest)` reads a whole usage API page from its bytes into columns,
 * or answers None where it is not the plainly common page (see its section below).
 *
 * No Python code runs inside (hashing an exact str calls none), the GIL is held
 * throughout, and every index is checked against the column's and the buffer's length.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    Py_hash_t hash;
    PyObject *key; /* borrowed from the column, NULL if the slot is free */
    int32_t code;
} Slot;

static int
same_string(PyObject *a, PyObject *b)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(a);
    int kind = PyUnicode_KIND(a);
    if (len != PyUnicode_GET_LENGTH(b) || kind != (int)PyUnicode_KIND(b)) {
        return 0;
    }
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)len * (size_t)kind) == 0;
}

/* 0 if a METH_FASTCALL function got `want` arguments, else -1 with a TypeError set */
static int
arity(const char *name, Py_ssize_t nargs, Py_ssize_t want)
{
    if (nargs == want) {
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", name, want,
                 nargs);
    return -1;
}

/* The column as a fast sequence (`*seq`) and `out` as a writable contiguous buffer
 * (`view`) of exactly one item of `itemsize` bytes per value: 0, or -1 with an exception
 * set and nothing held. */
static int
column_and_out(PyObject *column, PyObject *out, Py_ssize_t itemsize, const char *what,
               PyObject **seq, Py_buffer *view)
{
    *seq = PySequence_Fast(column, "column must be a sequence");
    if (*seq == NULL) {
        return -1;
    }
    if (PyObject_GetBuffer(out, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        Py_DECREF(*seq);
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(*seq);
    if (view->itemsize != itemsize || view->len != n * itemsize) {
        PyErr_Format(PyExc_ValueError, "out must hold exactly len(column) %s", what);
        PyBuffer_Release(view);
        Py_DECREF(*seq);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(codes_doc,
"codes(column, base, out) -> list[str]\n\n"
"Dense codes of a column of str and None: each distinct string, in the order of its\n"
"first appearance, gets base + its rank, None gets -1; the codes are written to `out`\n"
"(a writable buffer of len(column) int32). Returns the distinct strings in that order.\n"
"TypeError for a value that is neither an exact str nor None.");

static PyObject *
codes(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (arity("codes", nargs, 3) < 0) {
        return NULL;
    }
    Py_ssize_t base = PyLong_AsSsize_t(args[1]);
    if (base == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (base < 0 || base > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "base outside 0 .. 2**31 - 1");
        return NULL;
    }
    PyObject *seq;
    Py_buffer view;
    if (column_and_out(args[0], args[2], sizeof(int32_t), "int32", &seq, &view) < 0) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *keys = NULL;
    Slot *table = NULL;
    if (n > INT32_MAX - base) {
        PyErr_SetString(PyExc_ValueError, "column too long for int32 codes");
        goto done;
    }
    keys = PyList_New(0);
    if (keys == NULL) {
        goto done;
    }
    /* a power of two at least twice the column: at most half full, short probes */
    size_t capacity = 8;
    while (capacity < (size_t)n * 2) {
        capacity <<= 1;
    }
    size_t mask = capacity - 1;
    table = PyMem_Calloc(capacity, sizeof(Slot));
    if (table == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    /* read only now: allocating above may have run the cyclic collector (finalizers) */
    if (PySequence_Fast_GET_SIZE(seq) != n) {
        PyErr_SetString(PyExc_RuntimeError, "column changed size");
        goto fail;
    }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    int32_t *out = (int32_t *)view.buf;
    PyObject *last = NULL; /* a run of the same object (a page's one app) skips the table */
    int32_t last_code = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        if (v == Py_None) {
            out[i] = -1;
            continue;
        }
        if (v == last) {
            out[i] = last_code;
            continue;
        }
        if (!PyUnicode_CheckExact(v)) {
            PyErr_SetString(PyExc_TypeError, "codes() takes only str and None");
            goto fail;
        }
        if (PyUnicode_READY(v) < 0) {
            goto fail;
        }
        Py_hash_t h = PyObject_Hash(v);
        if (h == -1) {
            goto fail;
        }
        size_t at = (size_t)h & mask;
        int32_t code;
        for (;;) {
            Slot *s = &table[at];
            if (s->key == NULL) {
                code = (int32_t)(base + PyList_GET_SIZE(keys));
                if (PyList_Append(keys, v) < 0) {
                    goto fail;
                }
                s->hash = h;
                s->key = v;
                s->code = code;
                break;
            }
            if (s->hash == h && (s->key == v || same_string(s->key, v))) {
                code = s->code;
                break;
            }
            at = (at + 1) & mask;
        }
        out[i] = code;
        last = v;
        last_code = code;
    }
    goto done;
fail:
    Py_CLEAR(keys);
done:
    PyMem_Free(table);
    PyBuffer_Release(&view);
    Py_DECREF(seq);
    return keys;
}

PyDoc_STRVAR(transpose_doc,
"transpose(events, type, fields) -> tuple[tuple, ...]\n\n"
"The fields of a list of `type` instances as columns: for each member descriptor of\n"
"`fields` (of `type`), a tuple of that field's value in each event. TypeError for an\n"
"event of another type, a descriptor of another type or not an object slot, or an\n"
"unset slot.");

static PyObject *
transpose(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (arity("transpose", nargs, 3) < 0) {
        return NULL;
    }
    PyObject *events = args[0];
    PyObject *type = args[1];
    PyObject *fields = args[2];
    if (!PyList_CheckExact(events) || !PyType_Check(type) || !PyTuple_CheckExact(fields)) {
        PyErr_SetString(PyExc_TypeError, "transpose(list, type, tuple of member descriptors)");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)type;
    Py_ssize_t k = PyTuple_GET_SIZE(fields);
    Py_ssize_t *offsets = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(k ? k : 1));
    if (offsets == NULL) {
        return PyErr_NoMemory();
    }
    for (Py_ssize_t f = 0; f < k; f++) {
        PyObject *d = PyTuple_GET_ITEM(fields, f);
        if (!Py_IS_TYPE(d, &PyMemberDescr_Type)
            || ((PyMemberDescrObject *)d)->d_common.d_type != tp) {
            PyErr_SetString(PyExc_TypeError, "fields must be member descriptors of type");
            PyMem_Free(offsets);
            return NULL;
        }
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if ((m->type != T_OBJECT_EX && m->type != T_OBJECT) || m->offset < 0
            || m->offset > tp->tp_basicsize - (Py_ssize_t)sizeof(PyObject *)) {
            PyErr_SetString(PyExc_TypeError, "a field is not an object slot");
            PyMem_Free(offsets);
            return NULL;
        }
        offsets[f] = m->offset;
    }
    Py_ssize_t n = PyList_GET_SIZE(events);
    PyObject *columns = PyTuple_New(k);
    if (columns == NULL) {
        PyMem_Free(offsets);
        return NULL;
    }
    for (Py_ssize_t f = 0; f < k; f++) {
        PyObject *col = PyTuple_New(n);
        if (col == NULL) {
            goto fail;
        }
        PyTuple_SET_ITEM(columns, f, col);
    }
    /* allocating the tuples may have run the cyclic collector (finalizers: any code) */
    if (PyList_GET_SIZE(events) != n) {
        PyErr_SetString(PyExc_RuntimeError, "events changed size");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ev = PyList_GET_ITEM(events, i);
        if (!Py_IS_TYPE(ev, tp)) {
            PyErr_SetString(PyExc_TypeError, "an event of another type");
            goto fail;
        }
        for (Py_ssize_t f = 0; f < k; f++) {
            PyObject *v = *(PyObject **)((char *)ev + offsets[f]);
            if (v == NULL) {
                PyErr_SetString(PyExc_TypeError, "an event with a field not set");
                goto fail;
            }
            Py_INCREF(v);
            PyTuple_SET_ITEM(PyTuple_GET_ITEM(columns, f), i, v);
        }
    }
    PyMem_Free(offsets);
    return columns;
fail:
    PyMem_Free(offsets);
    Py_DECREF(columns); /* tuples not filled hold NULLs, which tuple dealloc skips */
    return NULL;
}

static int
digits(const unsigned char *s, int count, int *value)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        unsigned d = (unsigned)s[i] - '0';
        if (d > 9) {
            return 0;
        }
        v = v * 10 + (int)d;
    }
    *value = v;
    return 1;
}

/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil) */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* the epoch seconds of `len` ASCII bytes at `s` (see rfc3339 below), or NaN */
static double
rfc3339_bytes(const unsigned char *s, Py_ssize_t len, double lowest, double highest)
{
    if (len < 20 || len > 32) {
        return NAN;
    }
    int year, month, day, hour, minute, second;
    if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &month) || s[7] != '-'
        || !digits(s + 8, 2, &day) || s[10] != 'T' || !digits(s + 11, 2, &hour)
        || s[13] != ':' || !digits(s + 14, 2, &minute) || s[16] != ':'
        || !digits(s + 17, 2, &second)) {
        return NAN;
    }
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    /* years beyond the plausible ones are left to the reference (and refused there) */
    if (year < 1999 || year > 2100 || month < 1 || month > 12 || hour > 23 || minute > 59
        || second > 59) {
        return NAN;
    }
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day < 1 || day > month_days[month - 1] + (month == 2 && leap)) {
        return NAN;
    }
    Py_ssize_t at = 19;
    int64_t micros = 0;
    if (s[at] == '.') {
        int width = 0;
        at++;
        while (at < len && width < 7 && (unsigned)s[at] - '0' <= 9) {
            micros = micros * 10 + (s[at] - '0');
            at++;
            width++;
        }
        if (width == 0 || width > 6) {
            return NAN;
        }
        for (; width < 6; width++) {
            micros *= 10;
        }
    }
    int64_t offset = 0;
    if (at + 1 == len && s[at] == 'Z') {
        offset = 0;
    }
    else if (at + 6 == len && (s[at] == '+' || s[at] == '-') && s[at + 3] == ':') {
        int oh, om;
        if (!digits(s + at + 1, 2, &oh) || !digits(s + at + 4, 2, &om) || oh > 23 || om > 59) {
            return NAN;
        }
        offset = (int64_t)(oh * 3600 + om * 60) * (s[at] == '-' ? -1 : 1);
    }
    else {
        return NAN;
    }
    int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60
                      + second - offset;
    double t = (double)(seconds * 1000000 + micros) / 1e6;
    return (t >= lowest && t < highest) ? t : NAN;
}

static double
one_rfc3339(PyObject *v, double lowest, double highest)
{
    if (!PyUnicode_CheckExact(v) || !PyUnicode_IS_COMPACT_ASCII(v)) {
        return NAN;
    }
    return rfc3339_bytes((const unsigned char *)PyUnicode_DATA(v), PyUnicode_GET_LENGTH(v),
                         lowest, highest);
}

/* the [lowest, highest) bounds of epoch seconds that rfc3339 and page take, as doubles:
 * 0, or -1 with an exception set */
static int
time_bounds(PyObject *lo, PyObject *hi, double *lowest, double *highest)
{
    *lowest = PyFloat_AsDouble(lo);
    if (*lowest == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    *highest = PyFloat_AsDouble(hi);
    if (*highest == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(rfc3339_doc,
"rfc3339(column, out, lowest, highest) -> None\n\n"
"Epoch seconds of the canonical RFC 3339 strings of a column, written to `out` (a\n"
"writable buffer of len(column) float64); NaN for any other value and for a time\n"
"outside [lowest, highest).");

static PyObject *
rfc3339(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (arity("rfc3339", nargs, 4) < 0) {
        return NULL;
    }
    double lowest, highest;
    if (time_bounds(args[2], args[3], &lowest, &highest) < 0) {
        return NULL;
    }
    PyObject *seq;
    Py_buffer view;
    if (column_and_out(args[0], args[1], sizeof(double), "float64", &seq, &view) < 0) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    double *out = (double *)view.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = one_rfc3339(items[i], lowest, highest);
    }
    PyBuffer_Release(&view);
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(all_none_doc,
"all_none(column) -> bool | None\n\n"
"True if every value is None; False if one is an exact str, float or int; else None\n"
"(an object that might compare equal to None: ask Python).");

static PyObject *
all_none(PyObject *Py_UNUSED(module), PyObject *column)
{
    PyObject *seq = PySequence_Fast(column, "column must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *answer = Py_True;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        if (v == Py_None) {
            continue;
        }
        answer = (PyUnicode_CheckExact(v) || PyFloat_CheckExact(v) || PyLong_CheckExact(v))
                     ? Py_False
                     : Py_None;
        break;
    }
    Py_DECREF(seq);
    return Py_NewRef(answer);
}

/* ---- page(body, lowest, highest): a whole /v1/events page in one pass ------------------
 *
 * The envelope `{"events": [...], "next_cursor": ..., "has_more": ...}` and every event of
 * it, read straight from the body's bytes into what the normaliser needs: the event ids
 * (one str each), the times (float64, through rfc3339_bytes above), each string column as
 * int32 codes and the list of its distinct strings (only distinct strings become Python
 * objects), each numeric column as float64 (NaN where absent), the envelope's fields.
 *
 * It takes only the plainly common page and answers None for anything else, which the
 * caller then decodes the reference way (msgspec, then the normaliser): a string with an
 * escape, a control character or invalid UTF-8, a duplicate key, a number other than
 * -?(0|[1-9][0-9]*)(.[0-9]+)? of at most 17 digits (no exponent, no -0), an object or array
 * where a scalar is expected (no recursion at all: the only nesting read is the page's own
 * two levels), a value of another type than the field's, a string over the field's limit
 * (characters, as msgspec counts them), a missing `id`, `type`, `account` or `ts`, an empty
 * id or account, a `ts` that is not a canonical RFC 3339 time within [lowest, highest), any
 * `ts_ms`, bytes after the envelope, more events than int32 codes allow. (A numeric `ts`,
 * epoch seconds, is read as the other numbers are, and must be in [lowest, highest).) Each
 * of those is a page msgspec refuses, or one with an event the normaliser rejects, or simply
 * rare: the reference path then decides.
 *
 * Every read is checked against the end of the body; distinct strings are found by a hash
 * table keyed with CPython's keyed hash of the bytes (_Py_HashBytes, the one str and bytes
 * use), at most half full: a page built to collide is no worse than for a dict. Before it,
 * a direct-mapped cache of recent strings (by an unkeyed mix of their first and last bytes)
 * answers repeats without the keyed hash: a crafted page can only make it miss, one compare
 * each. Memory is bounded by the body: an event takes at least 30 bytes of it. No Python
 * code runs inside except object creation; the GIL is held throughout.
 */

enum { K_IDENT, K_STR, K_TEXT, K_FLOAT, K_TS, K_TS_MS };

/* WireEvent's fields in WIRE_FIELDS order; `col` is the string column (0..9) or numeric
 * column (0..5) each goes to, -1 for none */
typedef struct {
    const char *name;
    Py_ssize_t len;
    int kind;
    int col;
} Field;

#define NF 20
#define NSTR 10 /* type, account, then STR_COLUMNS */
#define NNUM 6  /* lat, lon, accuracy_m, duration_s, playback_rate, position_s */
#define F_ID 0
#define F_TS 1
#define F_TYPE 2
#define F_ACCOUNT 3

static const Field FIELDS[NF] = {
    {"id", 2, K_IDENT, -1},
    {"ts", 2, K_TS, -1},
    {"type", 4, K_STR, 0},
    {"account", 7, K_IDENT, 1},
    {"app", 3, K_TEXT, -1},
    {"unit", 4, K_TEXT, 2},
    {"device", 6, K_IDENT, 3},
    {"device_model", 12, K_TEXT, 4},
    {"network", 7, K_IDENT, 5},
    {"lat", 3, K_FLOAT, 0},
    {"lon", 3, K_FLOAT, 1},
    {"accuracy_m", 10, K_FLOAT, 2},
    {"point", 5, K_TEXT, 6},
    {"target", 6, K_TEXT, 7},
    {"duration_s", 10, K_FLOAT, 3},
    {"playback_rate", 13, K_FLOAT, 4},
    {"position_s", 10, K_FLOAT, 5},
    {"content_hash", 12, K_TEXT, 8},
    {"photo_hash", 10, K_TEXT, 9},
    {"ts_ms", 5, K_TS_MS, -1},
};
#define MAX_IDENT 128
#define MAX_TEXT 256
#define MAX_CURSOR 1024

typedef struct {
    Py_hash_t hash;
    const unsigned char *s; /* NULL: free */
    Py_ssize_t len;
    int32_t code;
} Entry;

#define RECENT 64

typedef struct {
    Entry *slots;
    size_t mask;
    Py_ssize_t used;
    int32_t *codes; /* one per event */
    PyObject *keys; /* the distinct strings, first seen first */
    Entry recent[RECENT]; /* strings met lately, by a cheap unkeyed hash: a hit costs no
                           * keyed hash and no probe of the (larger) table; a miss, which a
                           * crafted page can force at will, costs one compare more */
} StrCol;

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    Py_ssize_t cap;    /* events the arrays hold */
    Py_ssize_t n;      /* events read */
    PyObject *ids;     /* list of str */
    double *ts;
    StrCol str[NSTR];
    double *num[NNUM];
    int num_present[NNUM];
    int8_t order[NF]; /* the fields of the last event read, in its order (-1: none) */
} Reader;

/* outcomes of the readers below: 1 read, 0 not the common page (None), -1 exception set */

static inline void
ws(Reader *r)
{
    if (r->p < r->end && *r->p > ' ') { /* the usual case: no white space */
        return;
    }
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t')) {
        r->p++;
    }
}

/* a string's bytes after its opening quote, up to its closing one (consumed): `*s`,
 * `*len`, `*chars` (code points). 0 for an escape, a control character, invalid UTF-8
 * (overlong forms, surrogates, beyond U+10FFFF), or the end of the body. */
static int
string(Reader *r, const unsigned char **s, Py_ssize_t *len, Py_ssize_t *chars)
{
    const unsigned char *p = r->p, *end = r->end;
    const unsigned char *start = p;
    Py_ssize_t extra = 0; /* continuation bytes */
    for (;;) {
        /* eight bytes at a time to the first quote, backslash, control character or
         * byte not ASCII (the bit tricks of "Bit Twiddling Hacks": such a byte sets its
         * high bit in `special`; a byte above one may be set too, by the borrow, never
         * one below: the lowest set bit is the first such byte) */
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
            uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
            uint64_t special =
                (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w) & high;
            if (special) {
#if PY_LITTLE_ENDIAN
                p += __builtin_ctzll(special) >> 3;
#endif
                break;
            }
            p += 8;
        }
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
            p++;
        }
        if (p >= end) {
            return 0;
        }
        unsigned c = *p;
        if (c == '"') {
            break;
        }
        if (c < 0x80) { /* a backslash or a control character */
            return 0;
        }
        Py_ssize_t left = end - p;
        if (c >= 0xC2 && c <= 0xDF) {
            if (left < 2 || (p[1] & 0xC0) != 0x80) {
                return 0;
            }
            p += 2;
            extra += 1;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80
                || (c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F)) {
                return 0;
            }
            p += 3;
            extra += 2;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80
                || (p[3] & 0xC0) != 0x80 || (c == 0xF0 && p[1] < 0x90)
                || (c == 0xF4 && p[1] > 0x8F)) {
                return 0;
            }
            p += 4;
            extra += 3;
        }
        else {
            return 0;
        }
    }
    *s = start;
    *len = p - start;
    *chars = *len - extra;
    r->p = p + 1;
    return 1;
}

static int
literal(Reader *r, const char *word, Py_ssize_t len)
{
    if (r->end - r->p < len || memcmp(r->p, word, (size_t)len) != 0) {
        return 0;
    }
    r->p += len;
    return 1;
}

/* a number -?(0|[1-9][0-9]*)(.[0-9]+)? of at most 17 digits, not -0, as the double msgspec
 * reads (correctly rounded: exact for 15 digits by one division, else CPython's own
 * correctly rounded conversion) */
static int
number(Reader *r, double *value)
{
    const unsigned char *p = r->p, *end = r->end, *start = p;
    int negative = 0, count = 0, fraction = 0;
    uint64_t mantissa = 0;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    if (p >= end || (unsigned)*p - '0' > 9) {
        return 0;
    }
    if (*p == '0') {
        p++;
        count = 1;
        if (p < end && (unsigned)*p - '0' <= 9) {
            return 0; /* a leading zero */
        }
    }
    else {
        while (p < end && (unsigned)*p - '0' <= 9) {
            if (++count > 17) {
                return 0;
            }
            mantissa = mantissa * 10 + (uint64_t)(*p - '0');
            p++;
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || (unsigned)*p - '0' > 9) {
            return 0;
        }
        while (p < end && (unsigned)*p - '0' <= 9) {
            if (++count > 17) {
                return 0;
            }
            mantissa = mantissa * 10 + (uint64_t)(*p - '0');
            fraction++;
            p++;
        }
    }
    else if (negative && mantissa == 0) {
        return 0; /* -0: an integer zero, which msgspec reads as +0.0 */
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        return 0;
    }
    r->p = p;
    if (count <= 15) {
        static const double tens[16] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                        1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
        double v = (double)mantissa / tens[fraction];
        *value = negative ? -v : v;
        return 1;
    }
    char buf[24];
    Py_ssize_t len = p - start;
    if (len >= (Py_ssize_t)sizeof(buf)) {
        return 0;
    }
    memcpy(buf, start, (size_t)len);
    buf[len] = '\0';
    char *stop = NULL;
    double v = PyOS_string_to_double(buf, &stop, NULL);
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (stop != buf + len) {
        return 0;
    }
    *value = v;
    return 1;
}

/* an ignored field's value: a string, number, true, false or null (anything else: 0) */
static int
skip_scalar(Reader *r)
{
    const unsigned char *s;
    Py_ssize_t len, chars;
    double v;
    if (r->p >= r->end) {
        return 0;
    }
    switch (*r->p) {
    case '"':
        r->p++;
        return string(r, &s, &len, &chars);
    case 't':
        return literal(r, "true", 4);
    case 'f':
        return literal(r, "false", 5);
    case 'n':
        return literal(r, "null", 4);
    default:
        return number(r, &v);
    }
}

/* whether a[0:len] == b[0:len]: eight bytes at a time, inline (the strings compared are
 * short: a library call per compare costs more than the compare) */
static inline int
same_bytes(const unsigned char *a, const unsigned char *b, Py_ssize_t len)
{
    if (len >= 8) {
        uint64_t x, y;
        for (; len > 8; a += 8, b += 8, len -= 8) {
            memcpy(&x, a, 8);
            memcpy(&y, b, 8);
            if (x != y) {
                return 0;
            }
        }
        memcpy(&x, a + len - 8, 8); /* the last eight (again in part, where len < 8 now) */
        memcpy(&y, b + len - 8, 8);
        return x == y;
    }
    while (len > 0) {
        if (*a++ != *b++) {
            return 0;
        }
        len--;
    }
    return 1;
}

/* a str of s[0:len], valid UTF-8 of `chars` code points (ASCII when they are as many) */
static PyObject *
make_str(const unsigned char *s, Py_ssize_t len, Py_ssize_t chars)
{
    if (chars != len) {
        return PyUnicode_DecodeUTF8((const char *)s, len, "strict");
    }
    PyObject *str = PyUnicode_New(len, 127);
    if (str != NULL) {
        memcpy(PyUnicode_DATA(str), s, (size_t)len);
    }
    return str;
}

/* the code of the string s[0:len] in column c: its code if seen, else a new one (and the
 * str made); -1 with an exception set */
static int32_t intern_keyed(StrCol *c, const unsigned char *s, Py_ssize_t len,
                            Py_ssize_t chars);

static int32_t
intern(StrCol *c, const unsigned char *s, Py_ssize_t len, Py_ssize_t chars)
{
    /* the first and last (up to) eight bytes, mixed */
    uint64_t head = 0, tail = 0;
    if (len >= 8) {
        memcpy(&head, s, 8);
        memcpy(&tail, s + len - 8, 8);
    }
    else {
        for (Py_ssize_t k = 0; k < len; k++) {
            head = (head << 8) | s[k];
        }
    }
    uint64_t mix = (head ^ (tail * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)len) * 0xC2B2AE3D27D4EB4FULL;
    Entry *near = &c->recent[mix >> 58];
    if (near->s != NULL && near->len == len && same_bytes(near->s, s, len)) {
        return near->code;
    }
    int32_t code = intern_keyed(c, s, len, chars);
    if (code >= 0) {
        near->s = s;
        near->len = len;
        near->code = code;
    }
    return code;
}

static int32_t
intern_keyed(StrCol *c, const unsigned char *s, Py_ssize_t len, Py_ssize_t chars)
{
    if ((size_t)(c->used + 1) * 2 > c->mask + 1) {
        size_t capacity = (c->mask + 1) * 2;
        Entry *slots = PyMem_Calloc(capacity, sizeof(Entry));
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (size_t i = 0; i <= c->mask; i++) {
            Entry *e = &c->slots[i];
            if (e->s != NULL) {
                size_t at = (size_t)e->hash & (capacity - 1);
                while (slots[at].s != NULL) {
                    at = (at + 1) & (capacity - 1);
                }
                slots[at] = *e;
            }
        }
        PyMem_Free(c->slots);
        c->slots = slots;
        c->mask = capacity - 1;
    }
    Py_hash_t h = _Py_HashBytes(s, len);
    size_t at = (size_t)h & c->mask;
    for (;;) {
        Entry *e = &c->slots[at];
        if (e->s == NULL) {
            PyObject *str = make_str(s, len, chars);
            if (str == NULL) {
                return -1;
            }
            if (chars == len) {
                /* an ASCII str's hash is the keyed hash of its bytes (unicode_hash in
                 * CPython 3.11: _Py_HashBytes(data, length * kind), kind 1): kept, so the
                 * pseudonym cache's lookups of these strings do not hash them again */
                ((PyASCIIObject *)str)->hash = h;
            }
            int32_t code = (int32_t)PyList_GET_SIZE(c->keys);
            int failed = PyList_Append(c->keys, str);
            Py_DECREF(str);
            if (failed) {
                return -1;
            }
            e->hash = h;
            e->s = s;
            e->len = len;
            e->code = code;
            c->used++;
            return code;
        }
        if (e->hash == h && e->len == len && same_bytes(e->s, s, len)) {
            return e->code;
        }
        at = (at + 1) & c->mask;
    }
}

/* room for one more event: 0; 1 where the page has too many events for int32 codes
 * (declined: msgspec's then); -1 with an exception set */
static int
grow(Reader *r)
{
    if (r->n < r->cap) {
        return 0;
    }
    Py_ssize_t cap = r->cap ? r->cap * 2 : 1024;
    if (cap > INT32_MAX / 2) {
        return 1;
    }
    double *ts = PyMem_Realloc(r->ts, sizeof(double) * (size_t)cap);
    if (ts == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    r->ts = ts;
    for (int c = 0; c < NSTR; c++) {
        int32_t *codes = PyMem_Realloc(r->str[c].codes, sizeof(int32_t) * (size_t)cap);
        if (codes == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        r->str[c].codes = codes;
    }
    for (int c = 0; c < NNUM; c++) {
        double *num = PyMem_Realloc(r->num[c], sizeof(double) * (size_t)cap);
        if (num == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        r->num[c] = num;
    }
    r->cap = cap;
    return 0;
}

/* the field named s[0:len], or -1: the few fields of that length compared. Each row
 * holds field numbers + 1 (0 ends a row; a length no field has is a row of zeros). */
static const int8_t BY_LENGTH[14][5] = {
    [2] = {1, 2},           /* id, ts */
    [3] = {5, 10, 11},      /* app, lat, lon */
    [4] = {3, 6},           /* type, unit */
    [5] = {13, 20},         /* point, ts_ms */
    [6] = {7, 14},          /* device, target */
    [7] = {4, 9},           /* account, network */
    [10] = {12, 15, 17, 19}, /* accuracy_m, duration_s, position_s, photo_hash */
    [12] = {8, 18},         /* device_model, content_hash */
    [13] = {16},            /* playback_rate */
};

static int
field_of(const unsigned char *s, Py_ssize_t len)
{
    if (len < 2 || len > 13) {
        return -1;
    }
    for (const int8_t *k = BY_LENGTH[len]; *k; k++) {
        const char *name = FIELDS[*k - 1].name; /* of exactly `len` characters */
        if (name[0] == (char)s[0]
            && same_bytes((const unsigned char *)name + 1, s + 1, len - 1)) {
            return *k - 1;
        }
    }
    return -1;
}

/* one event object, its `{` consumed */
static int
event(Reader *r, double lowest, double highest)
{
    int room = grow(r);
    if (room != 0) {
        return room < 0 ? -1 : 0;
    }
    Py_ssize_t i = r->n;
    for (int c = 0; c < NSTR; c++) {
        r->str[c].codes[i] = -1;
    }
    for (int c = 0; c < NNUM; c++) {
        r->num[c][i] = NAN;
    }
    uint32_t seen = 0;
    const unsigned char *id = NULL;
    Py_ssize_t id_len = 0, id_chars = 0;
    ws(r);
    if (r->p < r->end && *r->p == '}') {
        return 0; /* no fields: missing ones */
    }
    for (int k = 0;; k++) {
        const unsigned char *key, *s;
        Py_ssize_t key_len, len, chars;
        if (r->p >= r->end || *r->p != '"') {
            return 0;
        }
        r->p++;
        int f = -1;
        /* the field the previous event had in this place, if these bytes are its name and
         * a closing quote (then the key is exactly that name: no escape can be in it) */
        if (k < NF && r->order[k] >= 0) {
            const Field *guess = &FIELDS[r->order[k]];
            if (r->end - r->p > guess->len && r->p[guess->len] == '"'
                && same_bytes(r->p, (const unsigned char *)guess->name, guess->len)) {
                f = r->order[k];
                r->p += guess->len + 1;
            }
        }
        if (f < 0) {
            if (!string(r, &key, &key_len, &chars)) {
                return 0;
            }
            f = field_of(key, key_len);
            if (k < NF) {
                r->order[k] = (int8_t)f;
            }
        }
        ws(r);
        if (r->p >= r->end || *r->p != ':') {
            return 0;
        }
        r->p++;
        ws(r);
        if (f < 0) {
            if (!skip_scalar(r)) {
                return 0;
            }
        }
        else {
            if (seen & (1u << f)) {
                return 0; /* a duplicate key */
            }
            seen |= 1u << f;
            const Field *fd = &FIELDS[f];
            if (r->p >= r->end) {
                return 0;
            }
            if (*r->p == 'n') {
                /* null: absent, where the field may be */
                if (!literal(r, "null", 4) || f == F_ID || f == F_TYPE || f == F_ACCOUNT
                    || f == F_TS) {
                    return 0;
                }
                /* absent; ts_ms null too (None) */
            }
            else if (fd->kind == K_FLOAT) {
                double v;
                if (!number(r, &v)) {
                    return 0;
                }
                r->num[fd->col][i] = v;
                r->num_present[fd->col] = 1;
            }
            else if (fd->kind == K_TS_MS) {
                return 0; /* a time in ms: the reference path */
            }
            else if (f == F_TS && *r->p != '"') {
                /* epoch seconds: the number as msgspec reads it (a float), in range */
                double t;
                if (!number(r, &t) || !(t >= lowest && t < highest)) {
                    return 0;
                }
                r->ts[i] = t;
            }
            else {
                if (*r->p != '"') {
                    return 0;
                }
                r->p++;
                if (!string(r, &s, &len, &chars)) {
                    return 0;
                }
                if ((fd->kind == K_IDENT && chars > MAX_IDENT)
                    || (fd->kind == K_TEXT && chars > MAX_TEXT)) {
                    return 0;
                }
                if (f == F_ID) {
                    if (len == 0) {
                        return 0;
                    }
                    id = s;
                    id_len = len;
                    id_chars = chars;
                }
                else if (f == F_TS) {
                    double t = rfc3339_bytes(s, len, lowest, highest);
                    if (isnan(t)) {
                        return 0;
                    }
                    r->ts[i] = t;
                }
                else if (fd->col >= 0) {
                    if (f == F_ACCOUNT && len == 0) {
                        return 0;
                    }
                    int32_t code = intern(&r->str[fd->col], s, len, chars);
                    if (code < 0) {
                        return -1;
                    }
                    r->str[fd->col].codes[i] = code;
                }
                /* app: checked, not kept (the normaliser does not keep it) */
            }
        }
        ws(r);
        if (r->p >= r->end) {
            return 0;
        }
        if (*r->p == ',') {
            r->p++;
            ws(r);
            continue;
        }
        if (*r->p == '}') {
            r->p++;
            break;
        }
        return 0;
    }
    const uint32_t required = (1u << F_ID) | (1u << F_TS) | (1u << F_TYPE) | (1u << F_ACCOUNT);
    if ((seen & required) != required) {
        return 0;
    }
    PyObject *s = make_str(id, id_len, id_chars);
    if (s == NULL) {
        return -1;
    }
    int failed = PyList_Append(r->ids, s);
    Py_DECREF(s);
    if (failed) {
        return -1;
    }
    r->n++;
    return 1;
}

/* the table size each string column needed on the last page read (a power of two, 16 to
 * 2**16): the first size of the next page's (the GIL guards it) */
static size_t table_hint[NSTR] = {16, 16, 16, 16, 16, 16, 16, 16, 16, 16};

static void
reader_free(Reader *r)
{
    for (int c = 0; c < NSTR; c++) {
        size_t size = 16;
        while (size < 65536 && size < (size_t)(r->str[c].used + 1) * 2) {
            size <<= 1;
        }
        table_hint[c] = size;
    }
    Py_XDECREF(r->ids);
    PyMem_Free(r->ts);
    for (int c = 0; c < NSTR; c++) {
        PyMem_Free(r->str[c].slots);
        PyMem_Free(r->str[c].codes);
        Py_XDECREF(r->str[c].keys);
    }
    for (int c = 0; c < NNUM; c++) {
        PyMem_Free(r->num[c]);
    }
}

/* the events array, its `[` consumed */
static int
events_array(Reader *r, double lowest, double highest)
{
    ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return 1;
    }
    for (;;) {
        if (r->p >= r->end || *r->p != '{') {
            return 0;
        }
        r->p++;
        int got = event(r, lowest, highest);
        if (got <= 0) {
            return got;
        }
        ws(r);
        if (r->p >= r->end) {
            return 0;
        }
        if (*r->p == ',') {
            r->p++;
            ws(r);
            continue;
        }
        if (*r->p == ']') {
            r->p++;
            return 1;
        }
        return 0;
    }
}

static PyObject *
bytes_of(const void *data, Py_ssize_t n, size_t itemsize)
{
    return PyByteArray_FromStringAndSize(data ? (const char *)data : "", n * (Py_ssize_t)itemsize);
}

PyDoc_STRVAR(page_doc,
"page(body, lowest, highest) -> tuple | None\n\n"
"A /v1/events page read straight from its bytes, or None where it is not the plainly\n"
"common page (then msgspec and the normaliser decide). The tuple: (ids: tuple of str,\n"
"ts: bytearray of float64, strings: tuple of 10 (type, account, then STR_COLUMNS), each\n"
"None where absent from every event, else (bytearray of int32 codes, -1 absent, from the\n"
"base the strings table gives them, list of distinct str), numbers: tuple of 6 (lat, lon,\n"
"accuracy_m, duration_s, playback_rate, position_s), each None or a bytearray of float64\n"
"(NaN absent), next_cursor: str | None, has_more: bool).");

static PyObject *
page(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (arity("page", nargs, 3) < 0) {
        return NULL;
    }
    double lowest, highest;
    if (time_bounds(args[1], args[2], &lowest, &highest) < 0) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    Reader r;
    memset(&r, 0, sizeof(r));
    r.p = (const unsigned char *)view.buf;
    r.end = r.p + view.len;
    memset(r.order, -1, sizeof(r.order));
    PyObject *result = NULL, *cursor = NULL;
    int has_more = 0, got = 0;
    r.ids = PyList_New(0);
    if (r.ids == NULL) {
        goto done;
    }
    for (int c = 0; c < NSTR; c++) {
        /* as large as the last page's table: no growth, page after page, from 16 slots */
        r.str[c].slots = PyMem_Calloc(table_hint[c], sizeof(Entry));
        r.str[c].mask = table_hint[c] - 1;
        r.str[c].keys = PyList_New(0);
        if (r.str[c].slots == NULL || r.str[c].keys == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_NoMemory();
            }
            goto done;
        }
    }
    /* the envelope */
    int seen_events = 0, seen_cursor = 0, seen_more = 0;
    ws(&r);
    if (r.p >= r.end || *r.p != '{') {
        goto none;
    }
    r.p++;
    ws(&r);
    if (r.p < r.end && *r.p == '}') {
        goto none; /* no events */
    }
    for (;;) {
        const unsigned char *key, *s;
        Py_ssize_t key_len, len, chars;
        if (r.p >= r.end || *r.p != '"') {
            goto none;
        }
        r.p++;
        if (!string(&r, &key, &key_len, &chars)) {
            goto none;
        }
        ws(&r);
        if (r.p >= r.end || *r.p != ':') {
            goto none;
        }
        r.p++;
        ws(&r);
        if (key_len == 6 && memcmp(key, "events", 6) == 0) {
            if (seen_events++ || r.p >= r.end || *r.p != '[') {
                goto none;
            }
            r.p++;
            got = events_array(&r, lowest, highest);
            if (got < 0) {
                goto done;
            }
            if (got == 0) {
                goto none;
            }
        }
        else if (key_len == 11 && memcmp(key, "next_cursor", 11) == 0) {
            if (seen_cursor++ || r.p >= r.end) {
                goto none;
            }
            if (*r.p == 'n') {
                if (!literal(&r, "null", 4)) {
                    goto none;
                }
            }
            else {
                if (*r.p != '"') {
                    goto none;
                }
                r.p++;
                if (!string(&r, &s, &len, &chars) || chars > MAX_CURSOR) {
                    goto none;
                }
                Py_XSETREF(cursor, PyUnicode_DecodeUTF8((const char *)s, len, "strict"));
                if (cursor == NULL) {
                    goto done;
                }
            }
        }
        else if (key_len == 8 && memcmp(key, "has_more", 8) == 0) {
            if (seen_more++) {
                goto none;
            }
            if (literal(&r, "true", 4)) {
                has_more = 1;
            }
            else if (literal(&r, "false", 5)) {
                has_more = 0;
            }
            else {
                goto none;
            }
        }
        else if (!skip_scalar(&r)) {
            goto none;
        }
        ws(&r);
        if (r.p >= r.end) {
            goto none;
        }
        if (*r.p == ',') {
            r.p++;
            ws(&r);
            continue;
        }
        if (*r.p == '}') {
            r.p++;
            break;
        }
        goto none;
    }
    ws(&r);
    if (r.p != r.end || !seen_events) {
        goto none;
    }
    /* the columns: the strings table's codes follow one another, column by column, in
     * STR_COLUMNS order (the account's have a table of their own) */
    Py_ssize_t n = r.n;
    PyObject *strings = PyTuple_New(NSTR);
    if (strings == NULL) {
        goto done;
    }
    int32_t base = 0;
    for (int c = 0; c < NSTR; c++) {
        StrCol *col = &r.str[c];
        if (PyList_GET_SIZE(col->keys) == 0) {
            PyTuple_SET_ITEM(strings, c, Py_NewRef(Py_None));
            continue;
        }
        if (c >= 2) {
            if (base) {
                for (Py_ssize_t i = 0; i < n; i++) {
                    if (col->codes[i] >= 0) {
                        col->codes[i] += base;
                    }
                }
            }
            base += (int32_t)PyList_GET_SIZE(col->keys);
        }
        PyObject *codes = bytes_of(col->codes, n, sizeof(int32_t));
        if (codes == NULL) {
            Py_DECREF(strings);
            goto done;
        }
        PyTuple_SET_ITEM(strings, c, PyTuple_Pack(2, codes, col->keys));
        Py_DECREF(codes);
        if (PyTuple_GET_ITEM(strings, c) == NULL) {
            Py_DECREF(strings);
            goto done;
        }
    }
    PyObject *numbers = PyTuple_New(NNUM);
    if (numbers == NULL) {
        Py_DECREF(strings);
        goto done;
    }
    for (int c = 0; c < NNUM; c++) {
        PyObject *v = r.num_present[c] ? bytes_of(r.num[c], n, sizeof(double)) : Py_NewRef(Py_None);
        if (v == NULL) {
            Py_DECREF(strings);
            Py_DECREF(numbers);
            goto done;
        }
        PyTuple_SET_ITEM(numbers, c, v);
    }
    PyObject *ids = PyList_AsTuple(r.ids);
    PyObject *ts = bytes_of(r.ts, n, sizeof(double));
    if (ids != NULL && ts != NULL) {
        result = PyTuple_Pack(6, ids, ts, strings, numbers, cursor ? cursor : Py_None,
                              has_more ? Py_True : Py_False);
    }
    Py_XDECREF(ids);
    Py_XDECREF(ts);
    Py_DECREF(strings);
    Py_DECREF(numbers);
    goto done;
none:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(cursor);
    reader_free(&r);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"all_none", all_none, METH_O, all_none_doc},
    {"rfc3339", (PyCFunction)(void (*)(void))rfc3339, METH_FASTCALL, rfc3339_doc},
    {"codes", (PyCFunction)(void (*)(void))codes, METH_FASTCALL, codes_doc},
    {"transpose", (PyCFunction)(void (*)(void))transpose, METH_FASTCALL, transpose_doc},
    {"page", (PyCFunction)(void (*)(void))page, METH_FASTCALL, page_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tapwatch.sources._fastpage",
    .m_doc = "The normaliser's per-value loop in C (tapwatch.sources.normalise).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__fastpage(void)
{
    return PyModuleDef_Init(&module);
}
