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

static double
one_rfc3339(PyObject *v, double lowest, double highest)
{
    if (!PyUnicode_CheckExact(v) || !PyUnicode_IS_COMPACT_ASCII(v)) {
        return NAN;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(v);
    const unsigned char *s = (const unsigned char *)PyUnicode_DATA(v);
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
    double lowest = PyFloat_AsDouble(args[2]);
    if (lowest == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    double highest = PyFloat_AsDouble(args[3]);
    if (highest == -1.0 && PyErr_Occurred()) {
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

static PyMethodDef methods[] = {
    {"all_none", all_none, METH_O, all_none_doc},
    {"rfc3339", (PyCFunction)(void (*)(void))rfc3339, METH_FASTCALL, rfc3339_doc},
    {"codes", (PyCFunction)(void (*)(void))codes, METH_FASTCALL, codes_doc},
    {"transpose", (PyCFunction)(void (*)(void))transpose, METH_FASTCALL, transpose_doc},
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
