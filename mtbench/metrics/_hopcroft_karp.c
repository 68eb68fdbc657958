/* Maximum-cardinality bipartite matching (Hopcroft & Karp, 1973) for boundary evaluation.
 *
 * Why compiled here: SciPy's maximum_bipartite_matching implements the same algorithm, but its
 * depth-first phase never marks dead ends, so on the layered, ladder-like graphs that two nearby
 * boundary curves make it takes exponential time (scipy/scipy#26147); its maximum_flow (Dinic) is
 * correct but spends ~15 ms per 480x640 map. This file is the textbook algorithm with dead-end
 * pruning: O(E sqrt(V)), about a millisecond per map.
 *
 * Python API: max_matching(n_left, n_right, indptr, indices) -> int, where indptr (n_left + 1) and
 * indices (the right-node ids of each left node's edges) are C-contiguous int64 buffers (CSR rows).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

#define UNSEEN INT64_MAX

typedef struct {
    int64_t *match_left, *match_right, *dist, *queue, *next_edge, *stack, *via;
} Work;

/* Greedy start: each left node takes its first free neighbour. Returns the matching size. */
static int64_t greedy(int64_t nl, const int64_t *ptr, const int64_t *adj, Work *w) {
    int64_t size = 0;
    for (int64_t u = 0; u < nl; u++) {
        for (int64_t e = ptr[u]; e < ptr[u + 1]; e++) {
            int64_t v = adj[e];
            if (w->match_right[v] < 0) {
                w->match_left[u] = v;
                w->match_right[v] = u;
                size++;
                break;
            }
        }
    }
    return size;
}

/* Breadth-first layering from the free left nodes; returns the layer (in left-node steps) at which a
 * free right node is first reached, or UNSEEN when no augmenting path exists. */
static int64_t layer(int64_t nl, const int64_t *ptr, const int64_t *adj, Work *w) {
    int64_t head = 0, tail = 0, limit = UNSEEN;
    for (int64_t u = 0; u < nl; u++) {
        if (w->match_left[u] < 0) {
            w->dist[u] = 0;
            w->queue[tail++] = u;
        } else {
            w->dist[u] = UNSEEN;
        }
    }
    while (head < tail) {
        int64_t u = w->queue[head++];
        if (w->dist[u] + 1 >= limit) continue;  /* deeper than the shortest augmenting paths */
        for (int64_t e = ptr[u]; e < ptr[u + 1]; e++) {
            int64_t owner = w->match_right[adj[e]];
            if (owner < 0) {
                if (limit == UNSEEN) limit = w->dist[u] + 1;
            } else if (w->dist[owner] == UNSEEN) {
                w->dist[owner] = w->dist[u] + 1;
                w->queue[tail++] = owner;
            }
        }
    }
    return limit;
}

/* Depth-first search for vertex-disjoint shortest augmenting paths along the layers (iterative; a
 * node whose search fails is marked dead for the rest of the phase). Returns how many were applied. */
static int64_t augment(int64_t nl, const int64_t *ptr, const int64_t *adj, int64_t limit, Work *w) {
    int64_t found = 0;
    for (int64_t u = 0; u < nl; u++) w->next_edge[u] = ptr[u];
    for (int64_t root = 0; root < nl; root++) {
        if (w->match_left[root] >= 0 || w->dist[root] != 0) continue;
        int64_t top = 0;
        w->stack[0] = root;
        while (top >= 0) {
            int64_t u = w->stack[top];
            int advanced = 0;
            while (w->next_edge[u] < ptr[u + 1]) {
                int64_t v = adj[w->next_edge[u]++];
                int64_t owner = w->match_right[v];
                if (owner < 0) {
                    if (w->dist[u] + 1 != limit) continue;
                    w->via[top] = v;
                    for (int64_t k = top; k >= 0; k--) {  /* flip the path */
                        int64_t a = w->stack[k], b = w->via[k];
                        w->match_left[a] = b;
                        w->match_right[b] = a;
                        w->dist[a] = UNSEEN;  /* used in this phase */
                    }
                    found++;
                    top = -1;
                    advanced = 1;
                    break;
                }
                if (w->dist[owner] == w->dist[u] + 1 && w->dist[owner] < limit) {
                    w->via[top] = v;
                    w->stack[++top] = owner;
                    advanced = 1;
                    break;
                }
            }
            if (!advanced) {
                w->dist[u] = UNSEEN;  /* dead end: never expanded again in this phase */
                top--;
            }
        }
    }
    return found;
}

static int64_t hopcroft_karp(int64_t nl, int64_t nr, const int64_t *ptr, const int64_t *adj, Work *w) {
    for (int64_t u = 0; u < nl; u++) w->match_left[u] = -1;
    for (int64_t v = 0; v < nr; v++) w->match_right[v] = -1;
    int64_t size = greedy(nl, ptr, adj, w);
    for (;;) {
        int64_t limit = layer(nl, ptr, adj, w);
        if (limit == UNSEEN) return size;
        int64_t found = augment(nl, ptr, adj, limit, w);
        if (found == 0) return size;  /* cannot happen when limit is finite; a guard against looping */
        size += found;
    }
}

static int get_int64_buffer(PyObject *obj, Py_buffer *view, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (view->itemsize != 8 || view->format == NULL || (view->format[0] != 'l' && view->format[0] != 'q')) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous int64 array", name);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *py_max_matching(PyObject *self, PyObject *args) {
    (void)self;
    long long nl, nr;
    PyObject *ptr_obj, *adj_obj;
    if (!PyArg_ParseTuple(args, "LLOO", &nl, &nr, &ptr_obj, &adj_obj)) return NULL;
    if (nl < 0 || nr < 0) {
        PyErr_SetString(PyExc_ValueError, "node counts must be >= 0");
        return NULL;
    }
    Py_buffer ptr_view, adj_view;
    if (get_int64_buffer(ptr_obj, &ptr_view, "indptr") < 0) return NULL;
    if (get_int64_buffer(adj_obj, &adj_view, "indices") < 0) {
        PyBuffer_Release(&ptr_view);
        return NULL;
    }
    const int64_t *ptr = ptr_view.buf, *adj = adj_view.buf;
    int64_t n_edges = adj_view.len / 8;
    const char *bad = NULL;
    if (ptr_view.len / 8 != nl + 1) bad = "indptr must have n_left + 1 entries";
    else if (ptr[0] != 0 || ptr[nl] != n_edges) bad = "indptr must start at 0 and end at len(indices)";
    for (int64_t u = 0; !bad && u < nl; u++)
        if (ptr[u + 1] < ptr[u]) bad = "indptr must be non-decreasing";
    for (int64_t e = 0; !bad && e < n_edges; e++)
        if (adj[e] < 0 || adj[e] >= nr) bad = "indices must lie in [0, n_right)";
    if (bad) {
        PyBuffer_Release(&ptr_view);
        PyBuffer_Release(&adj_view);
        PyErr_SetString(PyExc_ValueError, bad);
        return NULL;
    }
    int64_t n = nl + 1, m = nr + 1;
    Work w;
    int64_t *block = malloc(sizeof(int64_t) * (size_t)(6 * n + m));
    if (block == NULL) {
        PyBuffer_Release(&ptr_view);
        PyBuffer_Release(&adj_view);
        return PyErr_NoMemory();
    }
    w.match_left = block;
    w.dist = block + n;
    w.queue = block + 2 * n;
    w.next_edge = block + 3 * n;
    w.stack = block + 4 * n;
    w.via = block + 5 * n;
    w.match_right = block + 6 * n;
    int64_t size;
    Py_BEGIN_ALLOW_THREADS
    size = hopcroft_karp(nl, nr, ptr, adj, &w);
    Py_END_ALLOW_THREADS
    free(block);
    PyBuffer_Release(&ptr_view);
    PyBuffer_Release(&adj_view);
    return PyLong_FromLongLong(size);
}

static PyMethodDef methods[] = {
    {"max_matching", py_max_matching, METH_VARARGS,
     "max_matching(n_left, n_right, indptr, indices) -> size of a maximum-cardinality matching of the "
     "bipartite graph whose left node u has edges to indices[indptr[u]:indptr[u + 1]] (int64 arrays)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_hopcroft_karp",
                                    "Hopcroft-Karp maximum bipartite matching (C).", -1, methods};

PyMODINIT_FUNC PyInit__hopcroft_karp(void) { return PyModule_Create(&module); }
