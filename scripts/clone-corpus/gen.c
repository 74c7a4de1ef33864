// SPDX-License-Identifier: GPL-2.0
/*
 * Clone corpus generator: writes C units whose static functions GCC and
 * clang turn into clones (.constprop, .isra, .part, .llvm.), a main unit
 * with the kernel-like runtime stubs, and the expectation table that the
 * executor (exec.c) checks the BTF prototypes of btf_clones against.
 *
 *   gen [-n FUNCS_PER_UNIT] [-u UNITS] [-s SEED] OUTDIR
 *
 * Every call is made after storing a unique call id in corpus_call.  For
 * each call id and each function it reaches, expect.txt has a line
 *
 *   E <id> <function> <name>=<value> ...
 *
 * with the value of every source parameter and of every local variable
 * that holds a member read through a pointer or aggregate parameter (the
 * variables btf_clones names IPA-SRA pieces after), and, for functions
 * that return a value,
 *
 *   R <id> <function> <value>
 *
 * Values are hexadecimal, or &symbol for the address of a global.  Lines
 * "F <function> <kind> <unit>" list the functions.  Calls whose return
 * value the caller uses also check it at run time (corpus_check()), so a
 * wrong expectation model shows as a failed corpus run, not as a
 * mismatch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <stdbool.h>
#include <unistd.h>
#include <errno.h>
#include <sys/stat.h>

typedef uint64_t u64;

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

enum type {
	T_INT, T_UINT, T_LONG, T_ULONG, T_SHORT, T_UCHAR, T__SCALAR,
	T_PTR = T__SCALAR,	/* struct corpus_obj * */
	T_AGG8,			/* struct corpus_p8, by value */
	T_AGG16,		/* struct corpus_p16, by value */
	T_VOID,
	T_R8,			/* struct corpus_r8, returned in %rax */
};

static const char *const tname[] = {
	[T_INT] = "int", [T_UINT] = "unsigned int", [T_LONG] = "long",
	[T_ULONG] = "unsigned long", [T_SHORT] = "short",
	[T_UCHAR] = "unsigned char", [T_PTR] = "struct corpus_obj *",
	[T_AGG8] = "struct corpus_p8", [T_AGG16] = "struct corpus_p16",
	[T_VOID] = "void", [T_R8] = "struct corpus_r8",
};

static const char *const tsuffix[] = {
	[T_INT] = "", [T_UINT] = "U", [T_LONG] = "L", [T_ULONG] = "UL",
	[T_SHORT] = "", [T_UCHAR] = "",
};

static const int tsize[] = {
	[T_INT] = 4, [T_UINT] = 4, [T_LONG] = 8, [T_ULONG] = 8,
	[T_SHORT] = 2, [T_UCHAR] = 1, [T_PTR] = 8, [T_AGG8] = 8,
	[T_AGG16] = 16, [T_VOID] = 0, [T_R8] = 8,
};

/* R_UCONST: unused in the body, the same constant at every call */
enum role { R_USED, R_UNUSED, R_CONST, R_UCONST };

#define is_const(role)	((role) == R_CONST || (role) == R_UCONST)
#define is_unused(role)	((role) == R_UNUSED || (role) == R_UCONST)

enum ruse { U_USED, U_UNUSED };

enum kind {
	K_PLAIN, K_MANY, K_SRAP, K_SRAV, K_TAIL, K_LEAF, K_WARN, K_SBRANCH,
	K_SP, K_PART, K_SRET, K_FOLD, K_ADDR, K_GAP, K_UTYPE, K__MAX
};

static const char *const kname[] = {
	"plain", "many-args", "sra-ptr", "sra-agg", "tail", "tail-callee",
	"warn", "static-branch", "stack-protector", "ipa-split", "struct-ret",
	"ret-folded", "address-taken", "no-ipa-sra", "unit-typedef",
};

static const char *const kshort[] = {
	"plain", "many", "srap", "srav", "tail", "leaf", "warn", "sbr",
	"sp", "split", "sret", "fold", "addr", "gap", "utype",
};

/* struct corpus_obj members; flag only steers K_PART */
static const struct { const char *name; int type; } obj_mem[] = {
	{ "a", T_LONG }, { "b", T_INT }, { "c", T_UCHAR }, { "d", T_SHORT },
	{ "e", T_ULONG }, { "flag", T_INT },
};
#define NR_OBJ_MEM	5
#define OBJ_FLAG	5

#define MAX_P		12
#define MAX_CALLS	3
#define CONST_CALL	15
#define PART_FLAG	0x5a5a
#define FOLD_RET	0x5eed
#define WARN_MAGIC	0x0badc0deUL

struct fn {
	int id, unit, kind;
	char name[32];
	int np;
	struct {
		int type, role;
		unsigned int mem;	/* members read (T_PTR, T_AGG*) */
		unsigned int narrow;	/* members read into a narrower local */
		unsigned int widen;	/* members read into a wider local */
		unsigned int dual;	/* members also read into a long "<name>w" */
		bool escape;		/* the pointer itself is used too */
		bool ut;		/* declared as the unit's corpus_ut */
	} p[MAX_P];
	int rt, ruse;
	bool neg;		/* negative b and d in its objects */
	bool ut_ret;		/* returns the unit's corpus_ut */
	bool wrapped;
	int callee;		/* K_TAIL: its K_LEAF */
	int ncalls;
	int call_id[MAX_CALLS];
};

static struct fn *fns;
static int nr_fns;
static int next_call_id = 1;
static u64 rng_state = 0x9e3779b97f4a7c15ULL;

static void die(const char *msg)
{
	perror(msg);
	exit(2);
}

static unsigned int rnd(unsigned int n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned int)(rng_state >> 11) % n;
}

static u64 mask(int size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

/* The distinctive value of parameter (or member) j of call c of f */
static u64 val(int fid, int c, int j, int type)
{
	switch (type) {
	case T_LONG:
	case T_ULONG:
		return 0x5a00000000000000ULL | (u64)fid << 24 |
		       (u64)c << 16 | (u64)j << 8 | 0x11;
	case T_INT:
	case T_UINT:
		return 0x20000000 | (fid & 0x1ff) << 16 | (c & 0xf) << 12 |
		       (j & 0xff) << 4 | 1;
	case T_SHORT:
		return 0x1000 | (fid & 0x3f) << 6 | (c & 3) << 4 | (j & 0xf);
	case T_UCHAR:
		return 0x40 | ((fid * 7 + c * 3 + j) & 0x3f);
	}
	abort();
}

/* Member index m of param j as the j-th "value index" of val() */
static int mem_index(int ptype, int m)
{
	return (ptype == T_PTR ? 16 : 32) + m;
}

static int mem_type(int ptype, int m)
{
	if (ptype == T_PTR)
		return obj_mem[m].type;
	return ptype == T_AGG8 ? T_INT : T_LONG;
}

/* The type of the local variable member m of param j is read into */
static int local_type(struct fn *f, int j, int m)
{
	int t = mem_type(f->p[j].type, m);

	if (f->p[j].widen & (1u << m))
		return t == T_UCHAR ? T_ULONG : T_LONG;
	if (!(f->p[j].narrow & (1u << m)))
		return t;
	return t == T_LONG || t == T_ULONG ? T_UINT : T_UCHAR;
}

static u64 sext(u64 v, int size)
{
	int sh = 64 - 8 * size;

	return size >= 8 ? v : (u64)((int64_t)(v << sh) >> sh);
}

/* The value member m of an object of f has at call ac, sign-extended */
static u64 mem_raw(struct fn *f, int ptype, int m, int ac)
{
	int mt = mem_type(ptype, m);
	u64 v = val(f->id, ac, mem_index(ptype, m), mt);

	if (f->neg && ptype == T_PTR && (mt == T_INT || mt == T_SHORT))
		return -v;
	return v;
}

/* The bits of the local variable that member m of param j is read into */
static u64 mem_val(struct fn *f, int j, int m, int ac)
{
	return mem_raw(f, f->p[j].type, m, ac) & mask(tsize[local_type(f, j, m)]);
}

/* What (u64)local adds to the sum */
static u64 mem_contrib(struct fn *f, int j, int m, int ac)
{
	int lt = local_type(f, j, m);
	u64 v = mem_val(f, j, m, ac);

	return lt == T_INT || lt == T_SHORT ? sext(v, tsize[lt]) : v;
}

static const char *mem_name(int ptype, int m)
{
	if (ptype == T_PTR)
		return obj_mem[m].name;
	return m ? "y" : "x";
}

static const char *pname(int j, int type)
{
	static char buf[8][16];
	static int n;
	char *b = buf[n++ % 8];

	if (type == T_PTR)
		snprintf(b, 16, "obj%d", j);
	else if (type == T_AGG8 || type == T_AGG16)
		snprintf(b, 16, "pv%d", j);
	else
		snprintf(b, 16, "x%d", j);
	return b;
}

/* The call index whose values param j gets at call c */
static int arg_call(struct fn *f, int j, int c)
{
	return is_const(f->p[j].role) ? CONST_CALL : c;
}

/* corpus_ut: one typedef name, a different type in each unit */
static const int unit_type[] = { T_INT, T_LONG, T_SHORT, T_ULONG, T_UCHAR, T_UINT };

static const char *ptname(struct fn *f, int j)
{
	return f->p[j].ut ? "corpus_ut" : tname[f->p[j].type];
}

static const char *rtname(struct fn *f)
{
	return f->ut_ret ? "corpus_ut" : tname[f->rt];
}

static int rand_scalar(void)
{
	return rnd(T__SCALAR);
}

static int rand_ret(void)
{
	static const int r[] = { T_VOID, T_INT, T_LONG, T_UINT, T_ULONG,
				 T_SHORT, T_UCHAR, T_INT, T_LONG };

	return r[rnd(ARRAY_SIZE(r))];
}

static struct fn *new_fn(int unit, int kind)
{
	struct fn *f;

	fns = realloc(fns, (nr_fns + 1) * sizeof(*fns));
	if (!fns)
		die("realloc");
	f = &fns[nr_fns];
	memset(f, 0, sizeof(*f));
	f->id = nr_fns++;
	f->unit = unit;
	f->kind = kind;
	f->callee = -1;
	f->ncalls = 3;
	snprintf(f->name, sizeof(f->name), "cf%03d_%s", f->id, kshort[kind]);
	return f;
}

static void rand_params(struct fn *f, int np, int pct_unused, int pct_const)
{
	int j, r;

	f->np = np;
	for (j = 0; j < np; j++) {
		f->p[j].type = rand_scalar();
		r = rnd(100);
		f->p[j].role = r < pct_unused ? (rnd(3) ? R_UNUSED : R_UCONST) :
			       r < pct_unused + pct_const ? R_CONST : R_USED;
	}
}

/* Create the functions of one unit */
static void plan_unit(int unit, int n)
{
	int i, j, pos;
	struct fn *f, *g;

	for (i = 0; i < n; i++) {
		int kind = rnd(K__MAX);

		if (kind == K_LEAF)	/* only made for K_TAIL: more stack arguments */
			kind = K_MANY;
		if (kind == K_TAIL) {
			g = new_fn(unit, K_LEAF);
			rand_params(g, 2 + rnd(2), 0, 0);
			if (g->np == 3)
				g->p[2].role = R_CONST;
			g->rt = rand_ret();
			g->ruse = U_USED;
			g->ncalls = 0;
			f = new_fn(unit, K_TAIL);
			f->callee = g->id;
			rand_params(f, 3 + rnd(2), 0, 0);
			f->p[1].type = g->p[0].type;
			f->p[2].type = g->p[1].type;
			if (f->np == 4)
				f->p[3].role = R_UNUSED;
			f->rt = g->rt;
			f->ruse = rnd(2);
			continue;
		}
		f = new_fn(unit, kind);
		f->rt = rand_ret();
		f->ruse = rnd(2);
		switch (kind) {
		case K_PLAIN:
			rand_params(f, 1 + rnd(6), 20, 25);
			f->wrapped = !rnd(3);
			break;
		case K_MANY:
			rand_params(f, 7 + rnd(4), 15, 15);
			f->wrapped = !rnd(3);
			break;
		case K_SRAP:
		case K_SRAV:
			rand_params(f, 1 + rnd(4), 15, 20);
			pos = rnd(f->np);
			if (kind == K_SRAP) {
				f->p[pos].type = T_PTR;
				do {
					f->p[pos].mem = rnd(1 << NR_OBJ_MEM);
				} while (!f->p[pos].mem ||
					 __builtin_popcount(f->p[pos].mem) > 3);
				f->p[pos].role = rnd(4) ? R_USED : R_CONST;
				f->p[pos].escape = !rnd(4);
				if (!rnd(3))
					f->p[pos].narrow = f->p[pos].mem & rnd(1 << NR_OBJ_MEM);
				else if (rnd(2))
					f->p[pos].widen = f->p[pos].mem & 0xe;
				else
					f->p[pos].dual = f->p[pos].mem & 0xe;
				f->neg = rnd(2);
			} else {
				f->p[pos].type = rnd(2) ? T_AGG8 : T_AGG16;
				f->p[pos].mem = 1 + rnd(3);
				f->p[pos].role = R_USED;
			}
			break;
		case K_WARN:
		case K_SBRANCH:
		case K_SP:
		case K_SRET:
			rand_params(f, 2 + rnd(4), 20, 20);
			f->p[0].role = R_USED;
			f->p[1].role = R_USED;
			if (kind == K_SRET)
				f->rt = T_R8;
			f->wrapped = kind != K_SP && !rnd(4);
			break;
		case K_FOLD:
			rand_params(f, 2 + rnd(3), 25, 0);
			f->rt = T_INT;
			break;
		case K_ADDR:
			rand_params(f, 1 + rnd(5), 20, 15);
			break;
		case K_UTYPE:
			rand_params(f, 2 + rnd(4), 20, 25);
			for (j = 0; j < f->np; j++) {
				f->p[j].ut = rnd(2);
				if (f->p[j].ut)
					f->p[j].type = unit_type[unit % ARRAY_SIZE(unit_type)];
			}
			f->ut_ret = rnd(2);
			if (f->ut_ret)
				f->rt = unit_type[unit % ARRAY_SIZE(unit_type)];
			break;
		case K_GAP:
			rand_params(f, 3 + rnd(5), 30, 30);
			f->p[0].role = R_USED;
			f->p[1].role = R_UNUSED;
			f->p[2].role = R_UCONST;
			f->p[f->np - 1].role = R_USED;
			break;
		case K_PART:
			f->np = 3 + rnd(2);
			f->p[0].type = T_PTR;
			f->p[0].mem = 1 << 4 | 1 << OBJ_FLAG;
			f->p[0].role = R_USED;
			for (j = 1; j < f->np; j++) {
				f->p[j].type = rand_scalar();
				f->p[j].role = j < 3 ? R_USED : R_UNUSED;
			}
			if (f->rt == T_VOID)
				f->rt = T_LONG;
			break;
		}
	}
}

static FILE *xfopen(const char *dir, const char *name)
{
	char path[4096];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	if (!fp)
		die(path);
	return fp;
}

static void emit_params(FILE *fp, struct fn *f, bool nonconst_only)
{
	int j, n = 0;

	for (j = 0; j < f->np; j++) {
		if (nonconst_only && is_const(f->p[j].role))
			continue;
		fprintf(fp, "%s%s%s%s", n++ ? ", " : "", ptname(f, j),
			f->p[j].type == T_PTR ? "" : " ",
			pname(j, f->p[j].type));
	}
	if (!n)
		fprintf(fp, "void");
}

static void emit_value(FILE *fp, struct fn *f, int j, int c)
{
	int t = f->p[j].type, ac = arg_call(f, j, c);

	if (t == T_PTR)
		fprintf(fp, "&corpus_o_%d_%d", f->id, ac);
	else if (t == T_AGG8 || t == T_AGG16)
		fprintf(fp, "corpus_a_%d_%d", f->id, ac);
	else
		fprintf(fp, "(%s)%#llx%s", tname[t],
			(unsigned long long)val(f->id, ac, j, t), tsuffix[t]);
}

/* Globals the pointer and aggregate parameters of f point to or copy */
static void emit_objects(FILE *fp, struct fn *f)
{
	int j, c, m, ac;

	for (j = 0; j < f->np; j++) {
		int t = f->p[j].type;
		int done[MAX_CALLS + 1] = { 0 }, nd = 0;

		if (t != T_PTR && t != T_AGG8 && t != T_AGG16)
			continue;
		for (c = 0; c < f->ncalls; c++) {
			bool seen = false;
			int k;

			ac = arg_call(f, j, c);
			for (k = 0; k < nd; k++)
				seen |= done[k] == ac;
			if (seen)
				continue;
			done[nd++] = ac;
			if (t == T_PTR) {
				fprintf(fp, "struct corpus_obj corpus_o_%d_%d = {", f->id, ac);
				for (m = 0; m < NR_OBJ_MEM; m++) {
					u64 v = mem_raw(f, T_PTR, m, ac);
					bool minus = (int64_t)v < 0;

					fprintf(fp, " .%s = %s%#llx%s,", obj_mem[m].name,
						minus ? "-" : "",
						(unsigned long long)(minus ? -v : v),
						tsuffix[obj_mem[m].type]);
				}
				fprintf(fp, " .flag = %#x };\n", ac % 2 ? 0x1234 : PART_FLAG);
			} else {
				fprintf(fp, "struct %s corpus_a_%d_%d = {",
					t == T_AGG8 ? "corpus_p8" : "corpus_p16", f->id, ac);
				for (m = 0; m < 2; m++)
					fprintf(fp, " .%s = %#llx%s,", mem_name(t, m),
						(unsigned long long)val(f->id, ac, 32 + m, mem_type(t, m)),
						tsuffix[mem_type(t, m)]);
				fprintf(fp, " };\n");
			}
		}
	}
}

static int coef(int j)
{
	return 2 * j + 3;
}


static void emit_member_locals(FILE *fp, struct fn *f, unsigned int skip)
{
	int j, m;

	for (j = 0; j < f->np; j++) {
		int t = f->p[j].type;

		if (t != T_PTR && t != T_AGG8 && t != T_AGG16)
			continue;
		for (m = 0; m < NR_OBJ_MEM; m++) {
			if (!(f->p[j].mem & (1u << m)) || (skip & (1u << m)))
				continue;
			fprintf(fp, "\t%s %s_%s = %s%s%s;\n",
				tname[local_type(f, j, m)], pname(j, t), mem_name(t, m),
				pname(j, t), t == T_PTR ? "->" : ".", mem_name(t, m));
			if (f->p[j].dual & (1u << m))
				fprintf(fp, "\tlong %s_%sw = %s->%s;\n", pname(j, t),
					mem_name(t, m), pname(j, t), mem_name(t, m));
		}
	}
}

static void emit_sum(FILE *fp, struct fn *f, unsigned int skip)
{
	int j, m;

	fprintf(fp, "\tu64 r = %#x;\n\n", 0x7000 + f->id);
	for (j = 0; j < f->np; j++) {
		int t = f->p[j].type;

		if (t == T_PTR || t == T_AGG8 || t == T_AGG16) {
			for (m = 0; m < NR_OBJ_MEM; m++) {
				if (!(f->p[j].mem & (1u << m)) || (skip & (1u << m)))
					continue;
				fprintf(fp, "\tr += (u64)%s_%s * %d;\n", pname(j, t),
					mem_name(t, m), coef(mem_index(t, m)));
				if (f->p[j].dual & (1u << m))
					fprintf(fp, "\tr += (u64)%s_%sw * %d;\n", pname(j, t),
						mem_name(t, m), coef(mem_index(t, m) + 64));
			}
			continue;
		}
		if (!is_unused(f->p[j].role))
			fprintf(fp, "\tr += (u64)%s * %d;\n", pname(j, t), coef(j));
	}
}

/* The value the generic body computes for call c */
static u64 sum_value(struct fn *f, int c, const u64 *args)
{
	u64 r = 0x7000 + f->id;
	int j, m;

	for (j = 0; j < f->np; j++) {
		int t = f->p[j].type;

		if (t == T_PTR || t == T_AGG8 || t == T_AGG16) {
			int ac = arg_call(f, j, c);

			for (m = 0; m < NR_OBJ_MEM; m++)
				if (f->p[j].mem & (1u << m)) {
					r += mem_contrib(f, j, m, ac) * coef(mem_index(t, m));
					if (f->p[j].dual & (1u << m))
						r += mem_raw(f, t, m, ac) *
						     coef(mem_index(t, m) + 64);
				}
			continue;
		}
		if (!is_unused(f->p[j].role))
			r += args[j] * coef(j);
	}
	return r;
}

static void emit_return(FILE *fp, struct fn *f)
{
	switch (f->rt) {
	case T_VOID:
		break;
	case T_R8:
		fprintf(fp, "\treturn (struct corpus_r8){ .lo = (int)r, .hi = (int)(r >> 32) };\n");
		break;
	default:
		if (f->kind == K_FOLD)
			fprintf(fp, "\treturn %#x;\n", FOLD_RET);
		else
			fprintf(fp, "\treturn (%s)r;\n", tname[f->rt]);
	}
}

static void emit_fn(FILE *fp, struct fn *f)
{
	struct fn *g;
	int j, k;

	emit_objects(fp, f);
	fprintf(fp, "\nstatic %s%s %s(", f->kind == K_PART || f->kind == K_ADDR ? "" :
		f->kind == K_GAP ? "noinline corpus_no_ipa_sra " : "noinline ",
		rtname(f), f->name);
	emit_params(fp, f, false);
	fprintf(fp, ")\n{\n");
	switch (f->kind) {
	case K_TAIL:
		g = &fns[f->callee];
		fprintf(fp, "\tWRITE_ONCE(corpus_sink, (u64)x0);\n");
		fprintf(fp, "\t%s%s((%s)(x1 + 1), x2", f->rt == T_VOID ? "" : "return ",
			g->name, tname[g->p[0].type]);
		if (g->np == 3) {
			fprintf(fp, ", ");
			emit_value(fp, g, 2, 0);
		}
		fprintf(fp, ");\n}\n");
		return;
	case K_PART:
		fprintf(fp, "\tif (likely(obj0->flag != %#x))\n", PART_FLAG);
		fprintf(fp, "\t\treturn (%s)(%#xUL + (u64)x1);\n", tname[f->rt],
			0x3000 + f->id);
		fprintf(fp, "\t{\n\tunsigned long obj0_e = obj0->e;\n");
		for (k = 0; k < 12; k++)
			fprintf(fp, "\tcorpus_note((u64)x1 * %d + obj0_e + %d);\n", k + 1, k);
		emit_sum(fp, f, 1u << OBJ_FLAG);
		fprintf(fp, "\tWRITE_ONCE(corpus_sink, r);\n");
		emit_return(fp, f);
		fprintf(fp, "\t}\n}\n");
		return;
	default:
		break;
	}
	emit_member_locals(fp, f, 0);
	emit_sum(fp, f, 0);
	for (j = 0; j < f->np; j++)
		if (f->p[j].escape)
			fprintf(fp, "\tcorpus_note((u64)%s);\n", pname(j, f->p[j].type));
	switch (f->kind) {
	case K_WARN:
		fprintf(fp, "\tif (unlikely((u64)x0 == %#lx)) {\n\t\tasm volatile(\"ud2\");\n"
			"\t\tWRITE_ONCE(corpus_sink, (u64)x1);\n\t}\n", WARN_MAGIC);
		break;
	case K_SBRANCH:
		fprintf(fp, "\tif (corpus_static_false()) {\n\t\tWRITE_ONCE(corpus_sink, (u64)x0 * 7);\n"
			"\t\tcorpus_slow((u64)x1);\n\t}\n");
		break;
	case K_SP:
		fprintf(fp, "\t{\n\t\tunsigned char buf[%d];\n\t\tint i;\n\n"
			"\t\tfor (i = 0; i < (int)sizeof(buf); i++)\n"
			"\t\t\tbuf[i] = (unsigned char)(x0 + i);\n"
			"\t\tcorpus_consume(buf, sizeof(buf));\n\t}\n", 16 + 8 * (f->id % 4));
		break;
	default:
		break;
	}
	fprintf(fp, "\tWRITE_ONCE(corpus_sink, r);\n");
	emit_return(fp, f);
	fprintf(fp, "}\n");
	if (f->kind == K_ADDR) {
		fprintf(fp, "\ncorpus_fn_%d_t *corpus_fp_%d = %s;\n", f->id, f->id, f->name);
		fprintf(fp, "\ncorpus_fn_%d_t *corpus_get_%s(void)\n{\n\treturn %s;\n}\n",
			f->id, f->name, f->name);
	}
}

/* The argument values of call c of f, as u64 (scalars only) */
static void call_args(struct fn *f, int c, u64 *args)
{
	int j;

	for (j = 0; j < f->np; j++)
		args[j] = f->p[j].type < T__SCALAR ?
			  val(f->id, arg_call(f, j, c), j, f->p[j].type) : 0;
}

/* Expected return value of f called with args at call c */
static u64 ret_value(struct fn *f, int c, const u64 *args)
{
	struct fn *g;
	u64 gargs[MAX_P];

	switch (f->kind) {
	case K_TAIL:
		g = &fns[f->callee];
		gargs[0] = (args[1] + 1) & mask(tsize[g->p[0].type]);
		gargs[1] = args[2];
		if (g->np == 3)
			gargs[2] = val(g->id, CONST_CALL, 2, g->p[2].type);
		return ret_value(g, c, gargs);
	case K_FOLD:
		return FOLD_RET;
	case K_PART:
		if (arg_call(f, 0, c) % 2)
			return (0x3000 + f->id + args[1]) & mask(tsize[f->rt]);
		break;
	default:
		break;
	}
	return sum_value(f, c, args) & mask(tsize[f->rt]);
}

static void expect_fn(FILE *ex, struct fn *f, int id, int c, const u64 *args)
{
	int j, m;

	fprintf(ex, "E %d %s", id, f->name);
	for (j = 0; j < f->np; j++) {
		int t = f->p[j].type, ac = arg_call(f, j, c);

		if (t < T__SCALAR)
			fprintf(ex, " %s=%#llx/%d", pname(j, t), (unsigned long long)args[j],
				tsize[t]);
		else if (t == T_PTR)
			fprintf(ex, " %s=&corpus_o_%d_%d/8", pname(j, t), f->id, ac);
		else if (t == T_AGG8)
			fprintf(ex, " %s=%#llx/8", pname(j, t), (unsigned long long)
				(val(f->id, ac, 32, T_INT) | val(f->id, ac, 33, T_INT) << 32));
		if (t < T__SCALAR)
			continue;
		for (m = 0; m < NR_OBJ_MEM; m++) {
			if (!(f->p[j].mem & (1u << m)))
				continue;
			fprintf(ex, " %s_%s=%#llx/%d", pname(j, t), mem_name(t, m),
				(unsigned long long)mem_val(f, j, m, ac),
				tsize[local_type(f, j, m)]);
			if (f->p[j].dual & (1u << m))
				fprintf(ex, " %s_%sw=%#llx/8", pname(j, t), mem_name(t, m),
					(unsigned long long)mem_raw(f, t, m, ac));
		}
	}
	fprintf(ex, "\n");
	if (f->rt != T_VOID)
		fprintf(ex, "R %d %s %#llx/%d\n", id, f->name,
			(unsigned long long)ret_value(f, c, args), tsize[f->rt]);
	if (f->kind == K_TAIL) {
		struct fn *g = &fns[f->callee];
		u64 gargs[MAX_P];

		gargs[0] = (args[1] + 1) & mask(tsize[g->p[0].type]);
		gargs[1] = args[2];
		if (g->np == 3)
			gargs[2] = val(g->id, CONST_CALL, 2, g->p[2].type);
		expect_fn(ex, g, id, c, gargs);
	}
}

/* One call of f from a driver: the statement, with its return check */
enum via { V_DIRECT, V_WRAPPER, V_POINTER, V_GETTER };

static void emit_call(FILE *fp, FILE *ex, struct fn *f, int c, int via)
{
	bool via_wrapper = via == V_WRAPPER;
	u64 args[MAX_P];
	int id = next_call_id++, j, n = 0;
	u64 want;

	call_args(f, c, args);
	want = f->rt == T_VOID ? 0 : ret_value(f, c, args);
	fprintf(fp, "static noinline void drv_%d(void)\n{\n\tcorpus_call = %d;\n\t", id, id);
	if (f->rt != T_VOID && f->ruse == U_USED && f->kind != K_FOLD) {
		if (f->rt == T_R8)
			fprintf(fp, "{\n\tstruct corpus_r8 rr = ");
		else
			fprintf(fp, "corpus_check(%d, (u64)", id);
	} else if (f->kind == K_FOLD && f->ruse == U_USED) {
		fprintf(fp, "if (");
	}
	if (via == V_POINTER)
		fprintf(fp, "corpus_fp_%d(", f->id);
	else if (via == V_GETTER)
		fprintf(fp, "corpus_get_%s()(", f->name);
	else
		fprintf(fp, "%s%s(", via_wrapper ? "corpus_wrap_" : "", f->name);
	for (j = 0; j < f->np; j++) {
		if (via_wrapper && is_const(f->p[j].role))
			continue;
		if (n++)
			fprintf(fp, ", ");
		emit_value(fp, f, j, c);
	}
	fprintf(fp, ")");
	if (f->rt != T_VOID && f->ruse == U_USED && f->kind != K_FOLD) {
		if (f->rt == T_R8)
			fprintf(fp, ";\n\tcorpus_check(%d, (u64)(unsigned int)rr.lo | "
				"(u64)(unsigned int)rr.hi << 32, %#llxUL);\n\t}\n", id,
				(unsigned long long)want);
		else
			fprintf(fp, " & %#llxUL, %#llxUL);\n", (unsigned long long)mask(tsize[f->rt]),
				(unsigned long long)want);
	} else if (f->kind == K_FOLD && f->ruse == U_USED) {
		fprintf(fp, " != %#x)\n\t\tcorpus_fail(%d);\n", FOLD_RET, id);
	} else {
		fprintf(fp, ";\n");
	}
	fprintf(fp, "}\n\n");
	expect_fn(ex, f, id, c, args);
}

/* How call c of f is made */
static int call_via(struct fn *f, int c)
{
	if (f->kind == K_ADDR)
		return c == 0 ? V_DIRECT : c == 1 ? V_POINTER : V_GETTER;
	return f->wrapped && c == f->ncalls - 1 ? V_WRAPPER : V_DIRECT;
}

static void emit_wrapper(FILE *fp, struct fn *f)
{
	int j, n = 0;

	fprintf(fp, "\n%s corpus_wrap_%s(", tname[f->rt], f->name);
	emit_params(fp, f, true);
	fprintf(fp, ")\n{\n\t%s%s(", f->rt == T_VOID ? "" : "return ", f->name);
	for (j = 0; j < f->np; j++) {
		if (n++)
			fprintf(fp, ", ");
		if (is_const(f->p[j].role))
			emit_value(fp, f, j, 0);
		else
			fprintf(fp, "%s", pname(j, f->p[j].type));
	}
	fprintf(fp, ");\n}\n");
}

static const char header[] =
"/* SPDX-License-Identifier: GPL-2.0 */\n"
"/* Generated by scripts/clone-corpus/gen.c: do not edit */\n"
"#ifndef CORPUS_H\n#define CORPUS_H\n\n"
"typedef unsigned long u64;\n"
"#define noinline __attribute__((__noinline__))\n"
"#define likely(x) __builtin_expect(!!(x), 1)\n"
"#define unlikely(x) __builtin_expect(!!(x), 0)\n"
"#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))\n"
"#ifdef __clang__\n#define corpus_no_ipa_sra\n#else\n"
"#define corpus_no_ipa_sra __attribute__((__optimize__(\"no-ipa-sra\")))\n#endif\n\n"
"struct corpus_obj { long a; int b; unsigned char c; short d; unsigned long e; int flag; };\n"
"struct corpus_p8 { int x; int y; };\n"
"struct corpus_p16 { long x; long y; };\n"
"struct corpus_r8 { int lo; int hi; };\n\n"
"extern volatile unsigned long corpus_call;\n"
"extern unsigned long corpus_sink;\n"
"void corpus_check(unsigned long id, u64 got, u64 want);\n"
"void corpus_fail(unsigned long id);\n"
"void corpus_note(u64 v);\n"
"void corpus_slow(u64 v);\n"
"void corpus_consume(const unsigned char *buf, unsigned long len);\n\n"
"/* like the kernel's static_branch_unlikely(): a 5-byte nop, not taken */\n"
"static inline __attribute__((__always_inline__)) int corpus_static_false(void)\n"
"{\n"
"\tasm goto(\"1: .byte 0x0f,0x1f,0x44,0x00,0x00\\n\\t\"\n"
"\t\t \".pushsection corpus_jump_table, \\\"aw\\\"\\n\\t\"\n"
"\t\t \".balign 8\\n\\t.quad 1b, %l[l_yes]\\n\\t.popsection\\n\\t\"\n"
"\t\t : : : : l_yes);\n"
"\treturn 0;\n"
"l_yes:\n"
"\treturn 1;\n"
"}\n\n";

static const char main_c[] =
"// SPDX-License-Identifier: GPL-2.0\n"
"/* Generated by scripts/clone-corpus/gen.c: runtime of the clone corpus */\n"
"#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n"
"#include <sys/syscall.h>\n#include <asm/prctl.h>\n"
"#include \"corpus.h\"\n\n"
"volatile unsigned long corpus_call;\n"
"unsigned long corpus_sink;\n"
"/* -mstack-protector-guard-symbol=__ref_stack_chk_guard: %%gs:sym, gs base 0 */\n"
"unsigned long __ref_stack_chk_guard = 0x5eedc0ffee00ab00UL;\n"
"/* -mstack-protector-guard-offset=40: %%gs:40, like fixed_percpu_data */\n"
"static unsigned long gs_area[8];\n"
"static int failures;\n\n"
"asm(\".text\\n\"\n"
"    \".globl __fentry__\\n__fentry__:\\n\\tret\\n\"\n"
"    \".globl __x86_return_thunk\\n__x86_return_thunk:\\n\\tret\\n\\tint3\\n\"\n"
"#define THUNK(r) \".globl __x86_indirect_thunk_\" #r \"\\n__x86_indirect_thunk_\" #r \":\\n\\tjmp *%%\" #r \"\\n\\tint3\\n\"\n"
"    THUNK(rax) THUNK(rbx) THUNK(rcx) THUNK(rdx) THUNK(rsi) THUNK(rdi)\n"
"    THUNK(rbp) THUNK(r8) THUNK(r9) THUNK(r10) THUNK(r11) THUNK(r12)\n"
"    THUNK(r13) THUNK(r14) THUNK(r15));\n\n"
"void __stack_chk_fail(void)\n{\n\tfprintf(stderr, \"corpus: stack smashed\\n\");\n\tabort();\n}\n\n"
"void corpus_check(unsigned long id, u64 got, u64 want)\n{\n"
"\tif (got != want) {\n\t\tfprintf(stderr, \"corpus: call %%lu returned %%#lx, expected %%#lx\\n\", id, got, want);\n"
"\t\tfailures++;\n\t}\n}\n\n"
"void corpus_fail(unsigned long id)\n{\n\tfprintf(stderr, \"corpus: call %%lu: folded return check failed\\n\", id);\n\tfailures++;\n}\n\n"
"noinline void corpus_note(u64 v)\n{\n\tcorpus_sink += v;\n}\n\n"
"noinline void corpus_slow(u64 v)\n{\n\tcorpus_sink ^= v;\n}\n\n"
"noinline void corpus_consume(const unsigned char *buf, unsigned long len)\n{\n"
"\twhile (len--)\n\t\tcorpus_sink += *buf++;\n}\n\n"
"%s\n"
"int main(void)\n{\n"
"#ifdef CORPUS_GS40\n"
"\tgs_area[5] = __ref_stack_chk_guard;\n"
"\tif (syscall(SYS_arch_prctl, ARCH_SET_GS, gs_area)) {\n\t\tperror(\"arch_prctl\");\n\t\treturn 2;\n\t}\n"
"#else\n\t(void)gs_area;\n"
"#endif\n"
"%s"
"\tcorpus_call = 0;\n"
"\tprintf(\"corpus: %%d calls, %%d failures\\n\", %d, failures);\n"
"\treturn failures ? 3 : 0;\n}\n";

int main(int argc, char **argv)
{
	int per_unit = 60, units = 6, opt, u, i, c;
	const char *dir;
	char decls[65536] = "", runs[8192] = "", name[64];
	FILE *hdr, *ex, *mf;
	FILE **uf;

	while ((opt = getopt(argc, argv, "n:u:s:")) != -1) {
		switch (opt) {
		case 'n':
			per_unit = atoi(optarg);
			break;
		case 'u':
			units = atoi(optarg);
			break;
		case 's':
			rng_state ^= strtoull(optarg, NULL, 0) * 0x2545f4914f6cdd1dULL;
			break;
		default:
			fprintf(stderr, "usage: gen [-n FUNCS_PER_UNIT] [-u UNITS] [-s SEED] OUTDIR\n");
			return 2;
		}
	}
	if (optind != argc - 1 || units < 2 || per_unit < 1) {
		fprintf(stderr, "usage: gen [-n FUNCS_PER_UNIT] [-u UNITS] [-s SEED] OUTDIR\n");
		return 2;
	}
	dir = argv[optind];
	if (mkdir(dir, 0755) && errno != EEXIST)
		die(dir);
	for (u = 0; u < units; u++)
		plan_unit(u, per_unit);

	uf = calloc(units, sizeof(*uf));
	ex = xfopen(dir, "expect.txt");
	hdr = xfopen(dir, "corpus.h");
	fputs(header, hdr);
	for (i = 0; i < nr_fns; i++) {
		struct fn *f = &fns[i];

		fprintf(ex, "F %s %s %d\n", f->name, kname[f->kind], f->unit);
		if (f->kind == K_ADDR) {
			fprintf(hdr, "typedef %s corpus_fn_%d_t(", tname[f->rt], f->id);
			emit_params(hdr, f, false);
			fprintf(hdr, ");\ncorpus_fn_%d_t *corpus_get_%s(void);\n", f->id, f->name);
		}
		if (!f->wrapped)
			continue;
		fprintf(hdr, "%s corpus_wrap_%s(", tname[f->rt], f->name);
		emit_params(hdr, f, true);
		fprintf(hdr, ");\n");
	}
	for (u = 0; u < units; u++) {
		fprintf(hdr, "void corpus_run_u%d(void);\n", u);
		snprintf(name, sizeof(name), "u%d.c", u);
		uf[u] = xfopen(dir, name);
		fprintf(uf[u], "// SPDX-License-Identifier: GPL-2.0\n"
			"/* Generated by scripts/clone-corpus/gen.c: do not edit */\n"
			"#include \"corpus.h\"\n\n"
			"/* the same name for a different type in each unit */\n"
			"typedef %s corpus_ut;\n", tname[unit_type[u % ARRAY_SIZE(unit_type)]]);
		snprintf(runs + strlen(runs), sizeof(runs) - strlen(runs),
			 "\tcorpus_run_u%d();\n", u);
	}
	fprintf(hdr, "\n#endif\n");
	fclose(hdr);

	/* definitions, wrappers */
	for (i = 0; i < nr_fns; i++) {
		emit_fn(uf[fns[i].unit], &fns[i]);
		if (fns[i].wrapped)
			emit_wrapper(uf[fns[i].unit], &fns[i]);
	}
	/* drivers: the last call of a wrapped function from the next unit */
	for (u = 0; u < units; u++)
		fprintf(uf[u], "\n/* drivers */\n");
	for (i = 0; i < nr_fns; i++) {
		struct fn *f = &fns[i];

		for (c = 0; c < f->ncalls; c++) {
			int via = call_via(f, c);
			int du = via == V_WRAPPER || via == V_GETTER ?
				 (f->unit + 1) % units : f->unit;

			f->call_id[c] = next_call_id;
			emit_call(uf[du], ex, f, c, via);
		}
	}
	for (u = 0; u < units; u++) {
		int id;

		fprintf(uf[u], "void corpus_run_u%d(void)\n{\n", u);
		for (i = 0; i < nr_fns; i++)
			for (c = 0; c < fns[i].ncalls; c++) {
				int via = call_via(&fns[i], c);
				int du = via == V_WRAPPER || via == V_GETTER ?
					 (fns[i].unit + 1) % units : fns[i].unit;

				id = fns[i].call_id[c];
				if (du == u)
					fprintf(uf[u], "\tdrv_%d();\n", id);
			}
		fprintf(uf[u], "}\n");
		fclose(uf[u]);
	}
	(void)decls;
	mf = xfopen(dir, "main.c");
	fprintf(mf, main_c, "", runs, next_call_id - 1);
	fclose(mf);
	fclose(ex);
	fprintf(stderr, "gen: %d functions in %d units, %d calls\n", nr_fns, units,
		next_call_id - 1);
	return 0;
}
