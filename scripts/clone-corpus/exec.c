// SPDX-License-Identifier: GPL-2.0
/*
 * Clone corpus executor: checks the BTF prototypes of clone functions by
 * running the corpus binary under ptrace.
 *
 *   corpus-exec [-v] [--corrupt swap|ret|undesc] --btf FILE --expect FILE
 *               [--label NAME] [--out FILE] ELF
 *
 * Every BTF_KIND_FUNC named exactly like a clone symbol of the ELF
 * (foo.isra.0, foo.constprop.1, foo.part.0, foo.llvm.123) gets an int3 at
 * the symbol address, before its endbr64 and call __fentry__, where the
 * argument registers still hold the arguments.  At each hit the call id
 * the corpus stored in corpus_call selects the expectation of gen.c for
 * the source function (the symbol name up to its first dot).  BTF
 * parameter k is slot k: %rdi, %rsi, %rdx, %rcx, %r8, %r9, then the stack
 * words at %rsp + 8, + 16, ...; its value, truncated to the size of its
 * BTF type, must equal the value of the source parameter or of the piece
 * variable of the same name.  A temporary breakpoint at the return
 * address (matched with the stack pointer) reads %rax; a non-void BTF
 * return type must match the value the source function returns.  For a
 * void return it is only recorded whether %rax happens to hold the value.
 * A parameter named __slotN is an undescribed slot of btf_clones (an .isra
 * clone's register DWARF says nothing about): its value is not known, but
 * it must be an 8-byte integer at slot N of an .isra clone.
 *
 * --corrupt swap|ret|undesc first checks as above, then writes a copy of
 * the BTF in which one checked FUNC gets a new prototype with the names of
 * two parameters swapped, int for its void return, or void * for an
 * undescribed slot, and checks again: that run must report a mismatch.
 *
 * Exit status: 0 no mismatch, 1 mismatches, 2 harness error, 3 nothing to
 * corrupt in the mode asked for.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <stdbool.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/ptrace.h>
#include <sys/personality.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <linux/btf.h>
#include <bpf/btf.h>

typedef uint64_t u64;

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define MAX_ARGS	12
#define NR_ARG_REGS	6

struct sym {
	char *name;
	u64 addr;
	bool func;
};

struct expect {
	int id;
	char *fn;
	int n;
	char **names;
	u64 *vals;
	bool *unres;		/* &symbol the linker did not keep */
	int *sizes;		/* size of the source type, 0 unknown */
	bool has_ret;
	u64 ret;
	int ret_size;
	struct expect *next;	/* same id */
};

enum mm_kind { MM_VALUE, MM_NAME, MM_SIZE, MM_UNDESC };

struct mismatch {
	int kind;
	int slot;		/* -1: return */
	const char *name;
	u64 want, seen;
	int id, count;
	struct mismatch *next;
};

struct clone {
	char *name;
	char *base;
	u64 addr;
	int func_id;
	int hits, unexpected, unresolved, slots, stack_slots, rets, void_differs, void_same;
	int undescribed;	/* __slotN parameters seen */
	int alias;		/* next clone at the same address, or -1 */
	struct expect *last;	/* expectation of a checked hit */
	struct mismatch *mm;
	int nr_mm;
};

struct bp {
	u64 addr;
	long orig;		/* original text word */
	int clone;		/* entry breakpoint of clones[clone], or -1 */
	int ret_refs;		/* pending returns to addr */
	bool inserted;
};

struct frame {
	int clone;
	u64 ret_addr, rsp;
	struct expect *e;
	bool active;
};

static struct sym *syms;
static int nr_syms;
static struct expect **exp_by_id;
static int max_id;
static struct clone *clones;
static int nr_clones, nr_elf_clones, nr_elf_cold;
static struct bp *bps;
static int nr_bps;
static struct frame *frames;
static int nr_frames;
static u64 call_addr;
/* F lines: the kind of each source function */
static struct kind {
	char *name;
	int elf, enc, hit;
} kinds[32];
static int nr_kinds;
static struct { char *fn; int kind; } *fkinds;
static int nr_fkinds;
static int verbose;
static const char *label = "corpus";
static const char *out_path = "/dev/null";

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "corpus-exec: %s: ", label);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);

	if (!p)
		fail("out of memory");
	return p;
}

static void *xrealloc(void *p, size_t sz)
{
	p = realloc(p, sz);
	if (!p)
		fail("out of memory");
	return p;
}

static u64 mask(int size)
{
	return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

static void read_syms(const char *path)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf *elf;
	int fd;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		fail("%s: %s", path, strerror(errno));
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf)
		fail("%s: %s", path, elf_errmsg(-1));
	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		data = elf_getdata(scn, NULL);
		n = sh.sh_size / sh.sh_entsize;
		syms = xcalloc(n, sizeof(*syms));
		for (i = 0; i < n; i++) {
			GElf_Sym s;
			const char *name;

			if (!gelf_getsym(data, i, &s) || !s.st_name)
				continue;
			name = elf_strptr(elf, sh.sh_link, s.st_name);
			if (!name || s.st_shndx == SHN_UNDEF)
				continue;
			syms[nr_syms].name = strdup(name);
			syms[nr_syms].addr = s.st_value;
			syms[nr_syms].func = GELF_ST_TYPE(s.st_info) == STT_FUNC;
			nr_syms++;
		}
	}
	elf_end(elf);
	close(fd);
	if (!nr_syms)
		fail("%s: no symbol table", path);
}

static struct sym *find_sym(const char *name, bool func)
{
	size_t len = strlen(name);
	struct sym *dotted = NULL;
	int i;

	for (i = 0; i < nr_syms; i++) {
		if (syms[i].func != func || strncmp(syms[i].name, name, len))
			continue;
		if (!syms[i].name[len])
			return &syms[i];
		/* an LTO-promoted or numbered local: name.llvm.123, name.0 */
		if (syms[i].name[len] == '.' && !dotted)
			dotted = &syms[i];
	}
	return dotted;
}

static bool is_clone_name(const char *name, bool *cold)
{
	static const char *const sfx[] = { ".isra.", ".constprop.", ".part.", ".llvm." };
	size_t i;
	const char *c = strstr(name, ".cold");

	*cold = c && (!c[5] || c[5] == '.');
	if (*cold)
		return true;
	for (i = 0; i < ARRAY_SIZE(sfx); i++)
		if (strstr(name, sfx[i]))
			return true;
	return false;
}

/* VALUE[/SIZE]: a number or &symbol, and the size of the source type */
static u64 parse_value(char *v, bool *unres, int *size)
{
	char *sl = strchr(v, '/');
	struct sym *s;

	*size = 0;
	if (sl) {
		*sl = 0;
		*size = atoi(sl + 1);
	}
	*unres = false;
	if (v[0] == '&') {
		/* a constant-propagated object may be gone */
		s = find_sym(v + 1, false);
		*unres = !s;
		return s ? s->addr : 0;
	}
	return strtoull(v, NULL, 0);
}

static void read_expect(const char *path)
{
	char *line = NULL, *tok, *save;
	size_t cap = 0;
	FILE *fp = fopen(path, "r");

	if (!fp)
		fail("%s: %s", path, strerror(errno));
	while (getline(&line, &cap, fp) > 0) {
		struct expect *e;
		char kind, fn[128];
		int id, off;

		if (line[0] == 'F') {
			char kn[64];
			int k;

			if (sscanf(line, "F %127s %63s", fn, kn) != 2)
				continue;
			for (k = 0; k < nr_kinds && strcmp(kinds[k].name, kn); k++)
				;
			if (k == nr_kinds && nr_kinds < 32)
				kinds[nr_kinds++].name = strdup(kn);
			fkinds = xrealloc(fkinds, (nr_fkinds + 1) * sizeof(*fkinds));
			fkinds[nr_fkinds].fn = strdup(fn);
			fkinds[nr_fkinds++].kind = k;
			continue;
		}
		if (sscanf(line, "%c %d %127s %n", &kind, &id, fn, &off) < 3 ||
		    (kind != 'E' && kind != 'R'))
			continue;
		if (id >= max_id) {
			int n = id * 2 + 16;

			exp_by_id = xrealloc(exp_by_id, n * sizeof(*exp_by_id));
			memset(exp_by_id + max_id, 0, (n - max_id) * sizeof(*exp_by_id));
			max_id = n;
		}
		for (e = exp_by_id[id]; e && strcmp(e->fn, fn); e = e->next)
			;
		if (!e) {
			e = xcalloc(1, sizeof(*e));
			e->id = id;
			e->fn = strdup(fn);
			e->next = exp_by_id[id];
			exp_by_id[id] = e;
		}
		if (kind == 'R') {
			bool unres;

			e->has_ret = true;
			line[off + strcspn(line + off, "\n")] = 0;
			e->ret = parse_value(line + off, &unres, &e->ret_size);
			continue;
		}
		for (tok = strtok_r(line + off, "\t\n ", &save); tok;
		     tok = strtok_r(NULL, "\t\n ", &save)) {
			char *eq = strchr(tok, '=');

			if (!eq)
				fail("%s: bad item %s", path, tok);
			*eq = 0;
			e->names = xrealloc(e->names, (e->n + 1) * sizeof(char *));
			e->vals = xrealloc(e->vals, (e->n + 1) * sizeof(u64));
			e->unres = xrealloc(e->unres, (e->n + 1) * sizeof(bool));
			e->sizes = xrealloc(e->sizes, (e->n + 1) * sizeof(int));
			e->names[e->n] = strdup(tok);
			e->vals[e->n] = parse_value(eq + 1, &e->unres[e->n], &e->sizes[e->n]);
			e->n++;
		}
	}
	free(line);
	fclose(fp);
}

static struct expect *find_expect(int id, const char *fn)
{
	struct expect *e;

	if (id <= 0 || id >= max_id)
		return NULL;
	for (e = exp_by_id[id]; e; e = e->next)
		if (!strcmp(e->fn, fn))
			return e;
	return NULL;
}

static bool expect_value(struct expect *e, const char *name, u64 *v, bool *unres,
			 int *size)
{
	int i;

	for (i = 0; i < e->n; i++)
		if (!strcmp(e->names[i], name)) {
			*v = e->vals[i];
			if (size)
				*size = e->sizes[i];
			if (unres)
				*unres = e->unres[i];
			else if (e->unres[i])
				return false;
			return true;
		}
	return false;
}

static void load_clones(struct btf *btf)
{
	int id, n = btf__type_cnt(btf), i;
	bool cold;

	free(clones);
	clones = NULL;
	nr_clones = nr_elf_clones = nr_elf_cold = 0;
	for (i = 0; i < nr_syms; i++)
		if (syms[i].func && is_clone_name(syms[i].name, &cold)) {
			if (cold)
				nr_elf_cold++;
			else
				nr_elf_clones++;
		}
	for (id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const char *name = btf__name_by_offset(btf, t->name_off);
		struct clone *c;
		struct sym *s = NULL;

		if (!btf_is_func(t) || !is_clone_name(name, &cold) || cold)
			continue;
		for (i = 0; i < nr_syms; i++)
			if (syms[i].func && !strcmp(syms[i].name, name)) {
				s = &syms[i];
				break;
			}
		if (!s)
			continue;
		clones = xrealloc(clones, (nr_clones + 1) * sizeof(*clones));
		c = &clones[nr_clones++];
		memset(c, 0, sizeof(*c));
		c->name = s->name;
		c->base = strndup(name, strcspn(name, "."));
		c->addr = s->addr;
		c->func_id = id;
	}
}

static long peek(pid_t pid, u64 addr)
{
	long v;

	errno = 0;
	v = ptrace(PTRACE_PEEKDATA, pid, (void *)addr, NULL);
	if (errno)
		fail("peek %#llx: %s", (unsigned long long)addr, strerror(errno));
	return v;
}

static void poke(pid_t pid, u64 addr, long v)
{
	if (ptrace(PTRACE_POKEDATA, pid, (void *)addr, (void *)v))
		fail("poke %#llx: %s", (unsigned long long)addr, strerror(errno));
}

static struct bp *find_bp(u64 addr)
{
	int i;

	for (i = 0; i < nr_bps; i++)
		if (bps[i].addr == addr)
			return &bps[i];
	return NULL;
}

static struct bp *get_bp(u64 addr)
{
	struct bp *b = find_bp(addr);

	if (b)
		return b;
	bps = xrealloc(bps, (nr_bps + 1) * sizeof(*bps));
	b = &bps[nr_bps++];
	memset(b, 0, sizeof(*b));
	b->addr = addr;
	b->clone = -1;
	return b;
}

static void insert_bp(pid_t pid, struct bp *b)
{
	if (b->inserted)
		return;
	b->orig = peek(pid, b->addr);
	poke(pid, b->addr, (b->orig & ~0xffL) | 0xcc);
	b->inserted = true;
}

static void remove_bp(pid_t pid, struct bp *b)
{
	if (!b->inserted)
		return;
	poke(pid, b->addr, b->orig);
	b->inserted = false;
}

static void add_mismatch(struct clone *c, int kind, int slot, const char *name,
			 u64 want, u64 seen, int id)
{
	struct mismatch *m;

	c->nr_mm++;
	for (m = c->mm; m; m = m->next)
		if (m->slot == slot && m->kind == kind) {
			m->count++;
			return;
		}
	m = xcalloc(1, sizeof(*m));
	m->kind = kind;
	m->slot = slot;
	m->name = name;
	m->want = want;
	m->seen = seen;
	m->id = id;
	m->count = 1;
	m->next = c->mm;
	c->mm = m;
}

static void on_entry(pid_t pid, struct btf *btf, int ci, struct user_regs_struct *r)
{
	struct clone *c = &clones[ci];
	const struct btf_type *fn = btf__type_by_id(btf, c->func_id);
	const struct btf_type *proto = btf__type_by_id(btf, fn->type);
	const struct btf_param *p = btf_params(proto);
	u64 regs[NR_ARG_REGS] = { r->rdi, r->rsi, r->rdx, r->rcx, r->r8, r->r9 };
	int id = (int)peek(pid, call_addr), k, vlen = btf_vlen(proto);
	struct expect *e = find_expect(id, c->base);
	struct frame *f;

	/* several clone names for one body (identical code folding) */
	while (!e && c->alias >= 0) {
		ci = c->alias;
		c = &clones[ci];
		fn = btf__type_by_id(btf, c->func_id);
		proto = btf__type_by_id(btf, fn->type);
		p = btf_params(proto);
		vlen = btf_vlen(proto);
		e = find_expect(id, c->base);
	}
	if (!e) {
		c->unexpected++;
		if (verbose)
			fprintf(stderr, "%s: hit in call %d without expectation\n", c->name, id);
		return;
	}
	c->hits++;
	c->last = e;
	for (k = 0; k < vlen && k < MAX_ARGS; k++) {
		const char *name = btf__name_by_offset(btf, p[k].name_off);
		long sz = btf__resolve_size(btf, p[k].type);
		u64 seen, want;
		bool unres;
		int esize;

		seen = k < NR_ARG_REGS ? regs[k] :
		       (u64)peek(pid, r->rsp + 8 * (k - NR_ARG_REGS + 1));
		/*
		 * btf_clones' undescribed slot: a register of an .isra clone
		 * between known slots that DWARF says nothing about.  Its
		 * value is not known here either; it must be a scalar of the
		 * register's size, at its own slot, in an .isra clone.
		 */
		if (!strncmp(name, "__slot", 6)) {
			const struct btf_type *t;

			t = btf__type_by_id(btf, btf__resolve_type(btf, p[k].type));
			if (k >= NR_ARG_REGS || atoi(name + 6) != k || !t || !btf_is_int(t) ||
			    t->size != 8 || !strstr(c->name, ".isra."))
				add_mismatch(c, MM_UNDESC, k, name, 0, seen, id);
			else
				c->undescribed++;
			continue;
		}
		if (!expect_value(e, name, &want, &unres, &esize)) {
			/* a name that is neither a parameter nor a piece */
			add_mismatch(c, MM_NAME, k, name, 0, seen, id);
			continue;
		}
		if (sz <= 0 || sz > 8 || (esize && sz != esize)) {
			/* the BTF type is not the size of the source's */
			add_mismatch(c, MM_SIZE, k, name, esize, sz, id);
			continue;
		}
		if (unres) {
			/* the address of an object the linker dropped */
			c->unresolved++;
			continue;
		}
		c->slots++;
		c->stack_slots += k >= NR_ARG_REGS;
		if ((seen & mask(sz)) != (want & mask(sz)))
			add_mismatch(c, MM_VALUE, k, name, want & mask(sz), seen & mask(sz), id);
		if (verbose > 1)
			fprintf(stderr, "%s call %d slot %d %s: %#llx want %#llx\n", c->name, id,
				k, name, (unsigned long long)seen, (unsigned long long)want);
	}
	if (!e->has_ret && !proto->type)
		return;
	/* catch the return */
	for (k = 0; k < nr_frames && frames[k].active; k++)
		;
	if (k == nr_frames)
		frames = xrealloc(frames, ++nr_frames * sizeof(*frames));
	f = &frames[k];
	f->active = true;
	f->clone = ci;
	f->e = e;
	f->ret_addr = (u64)peek(pid, r->rsp);
	f->rsp = r->rsp + 8;
	get_bp(f->ret_addr)->ret_refs++;
	insert_bp(pid, find_bp(f->ret_addr));
}

/* Returns true when a pending return was handled at b */
static bool on_return(pid_t pid, struct btf *btf, struct bp *b, struct user_regs_struct *r)
{
	bool handled = false;
	int i;

	for (i = 0; i < nr_frames; i++) {
		struct frame *f = &frames[i];
		struct clone *c;
		const struct btf_type *proto;
		long sz;

		if (!f->active || f->ret_addr != b->addr || f->rsp != r->rsp)
			continue;
		handled = true;
		f->active = false;
		b->ret_refs--;
		c = &clones[f->clone];
		proto = btf__type_by_id(btf, btf__type_by_id(btf, c->func_id)->type);
		if (!proto->type) {
			if ((r->rax & 0xffffffff) == (f->e->ret & 0xffffffff))
				c->void_same++;
			else
				c->void_differs++;
			continue;
		}
		if (!f->e->has_ret) {
			add_mismatch(c, MM_NAME, -1, "(source returns void)", 0, r->rax,
				     f->e->id);
			continue;
		}
		sz = btf__resolve_size(btf, proto->type);
		if (sz <= 0 || sz > 8 || (f->e->ret_size && sz != f->e->ret_size)) {
			add_mismatch(c, MM_SIZE, -1, "return", f->e->ret_size, sz, f->e->id);
			continue;
		}
		c->rets++;
		if ((r->rax & mask(sz)) != (f->e->ret & mask(sz)))
			add_mismatch(c, MM_VALUE, -1, "return", f->e->ret & mask(sz),
				     r->rax & mask(sz), f->e->id);
	}
	(void)pid;
	return handled;
}

static void wait_stop(pid_t pid, int *status)
{
	if (waitpid(pid, status, 0) != pid)
		fail("waitpid: %s", strerror(errno));
}

static void trace(const char *elf, struct btf *btf)
{
	struct user_regs_struct r;
	int status, i, sig = 0;
	pid_t pid;

	free(bps);
	bps = NULL;
	nr_bps = 0;
	free(frames);
	frames = NULL;
	nr_frames = 0;
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (!pid) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0)
			dup2(fd, 1);
		personality(ADDR_NO_RANDOMIZE);
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execl(elf, elf, (char *)NULL);
		_exit(127);
	}
	wait_stop(pid, &status);
	if (!WIFSTOPPED(status))
		fail("%s did not start under ptrace", elf);
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)PTRACE_O_EXITKILL);
	for (i = 0; i < nr_clones; i++) {
		struct bp *b = get_bp(clones[i].addr);

		clones[i].alias = b->clone;
		b->clone = i;
		insert_bp(pid, b);
	}
	for (;;) {
		struct bp *b;

		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig))
			fail("PTRACE_CONT: %s", strerror(errno));
		sig = 0;
		wait_stop(pid, &status);
		if (WIFEXITED(status)) {
			if (WEXITSTATUS(status))
				fail("%s exited with %d (see %s)", elf, WEXITSTATUS(status),
				     out_path);
			break;
		}
		if (WIFSIGNALED(status))
			fail("%s killed by signal %d", elf, WTERMSIG(status));
		if (WSTOPSIG(status) != SIGTRAP) {
			sig = WSTOPSIG(status);
			continue;
		}
		if (ptrace(PTRACE_GETREGS, pid, NULL, &r))
			fail("PTRACE_GETREGS: %s", strerror(errno));
		b = find_bp(r.rip - 1);
		if (!b || !b->inserted) {
			sig = SIGTRAP;
			continue;
		}
		if (!(b->ret_refs && on_return(pid, btf, b, &r)) && b->clone >= 0)
			on_entry(pid, btf, b->clone, &r);
		b = find_bp(r.rip - 1);	/* on_entry may move bps */
		/* step over the original instruction */
		r.rip--;
		if (ptrace(PTRACE_SETREGS, pid, NULL, &r))
			fail("PTRACE_SETREGS: %s", strerror(errno));
		remove_bp(pid, b);
		if (b->clone >= 0 || b->ret_refs) {
			if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL))
				fail("PTRACE_SINGLESTEP: %s", strerror(errno));
			wait_stop(pid, &status);
			if (!WIFSTOPPED(status))
				fail("%s ended while stepping", elf);
			insert_bp(pid, b);
		}
	}
}

struct totals {
	int hit, slots, stack_slots, rets, void_differs, void_same, unexpected, unresolved, mm;
	int undescribed;
};

static struct totals report(struct btf *btf, bool quiet)
{
	struct totals t = { 0 };
	int i;

	for (i = 0; i < nr_clones; i++) {
		struct clone *c = &clones[i];
		struct mismatch *m;

		t.hit += c->hits > 0;
		t.slots += c->slots;
		t.stack_slots += c->stack_slots;
		t.rets += c->rets;
		t.void_differs += c->void_differs;
		t.void_same += c->void_same;
		t.unexpected += c->unexpected;
		t.unresolved += c->unresolved;
		t.undescribed += c->undescribed;
		t.mm += c->nr_mm;
		if (quiet)
			continue;
		for (m = c->mm; m; m = m->next) {
			char where[32];

			if (m->slot < 0)
				snprintf(where, sizeof(where), "return");
			else
				snprintf(where, sizeof(where), "slot %d", m->slot);
			if (m->kind == MM_UNDESC)
				printf("MISMATCH %s %s %s %s: an undescribed slot must be an "
				       "8-byte integer at its own register slot of an .isra "
				       "clone (call %d)\n", label, c->name, where, m->name, m->id);
			else if (m->kind == MM_NAME)
				printf("MISMATCH %s %s %s %s: no source parameter or "
				       "piece of that name, seen %#llx (call %d)\n", label,
				       c->name, where, m->name, (unsigned long long)m->seen,
				       m->id);
			else if (m->kind == MM_SIZE)
				printf("MISMATCH %s %s %s %s: BTF type of %lld bytes, the "
				       "source's has %lld (call %d, %d of %d hits)\n", label,
				       c->name, where, m->name, (long long)m->seen,
				       (long long)m->want, m->id, m->count, c->hits);
			else
				printf("MISMATCH %s %s %s %s: expected %#llx seen %#llx "
				       "(call %d, %d of %d hits)\n", label, c->name, where,
				       m->name, (unsigned long long)m->want,
				       (unsigned long long)m->seen, m->id, m->count, c->hits);
		}
		if (verbose && !c->hits)
			fprintf(stderr, "%s: %s never hit\n", label, c->name);
	}
	(void)btf;
	return t;
}

static struct kind *kind_of(const char *sym)
{
	size_t len = strcspn(sym, ".");
	int i;

	for (i = 0; i < nr_fkinds; i++)
		if (strlen(fkinds[i].fn) == len && !strncmp(fkinds[i].fn, sym, len))
			return fkinds[i].kind < 32 ? &kinds[fkinds[i].kind] : NULL;
	return NULL;
}

static void print_kinds(void)
{
	struct kind *k;
	bool cold;
	int i;

	for (i = 0; i < nr_kinds; i++)
		kinds[i].elf = kinds[i].enc = kinds[i].hit = 0;
	for (i = 0; i < nr_syms; i++) {
		if (!syms[i].func || !is_clone_name(syms[i].name, &cold) || cold)
			continue;
		k = kind_of(syms[i].name);
		if (k)
			k->elf++;
	}
	for (i = 0; i < nr_clones; i++) {
		k = kind_of(clones[i].name);
		if (!k)
			continue;
		k->enc++;
		k->hit += clones[i].hits > 0;
	}
	printf("by kind (clones in ELF/encoded/checked):");
	for (i = 0; i < nr_kinds; i++)
		printf("%s %s %d/%d/%d", i ? "," : "", kinds[i].name, kinds[i].elf,
		       kinds[i].enc, kinds[i].hit);
	printf("\n");
}

static void print_totals(const char *what, struct totals *t)
{
	printf("%s %s: clones in ELF %d (+%d .cold), encoded %d, checked by execution %d, "
	       "slots checked %d (%d on the stack), returns checked %d, void returns with "
	       "rax differing %d (rax holding the value anyway %d), hits without "
	       "expectation %d, pointer slots to dropped objects %d, undescribed slots %d, "
	       "mismatches %d\n",
	       what, label, nr_elf_clones, nr_elf_cold, nr_clones, t->hit, t->slots,
	       t->stack_slots, t->rets, t->void_differs, t->void_same, t->unexpected,
	       t->unresolved, t->undescribed, t->mm);
	printf("TABLE %s %d %d %d %d %d %d %d %d %d\n", label, nr_elf_clones, nr_clones,
	       t->hit, t->slots, t->stack_slots, t->rets, t->unexpected, t->mm,
	       t->undescribed);
}

/* Give FUNC func_id a new prototype with two names swapped or an int return */
enum { CORRUPT_SWAP, CORRUPT_RET, CORRUPT_UNDESC };

static void corrupt(struct btf *btf, struct clone *c, int how)
{
	const struct btf_type *fn = btf__type_by_id(btf, c->func_id);
	int proto_id = fn->type, ret, vlen, k, np, int_id;
	const struct btf_type *proto = btf__type_by_id(btf, proto_id);
	struct btf_type *mfn;
	char *names[MAX_ARGS];
	int types[MAX_ARGS];

	vlen = btf_vlen(proto);
	ret = proto->type;
	for (k = 0; k < vlen && k < MAX_ARGS; k++) {
		names[k] = strdup(btf__name_by_offset(btf, btf_params(proto)[k].name_off));
		types[k] = btf_params(proto)[k].type;
	}
	if (how == CORRUPT_UNDESC) {
		/* the worst a wrong undescribed slot could be: a pointer */
		for (k = 0; k < vlen && strncmp(names[k], "__slot", 6); k++)
			;
		types[k] = btf__add_ptr(btf, 0);
		if (types[k] < 0)
			fail("btf__add_ptr: %d", types[k]);
		printf("corrupt: %s: parameter %d (%s) unsigned long -> void *\n",
		       c->name, k, names[k]);
	} else if (how == CORRUPT_SWAP) {
		char *tmp = names[0];

		names[0] = names[1];
		names[1] = tmp;
		printf("corrupt: %s: swapped the names of parameters 0 (%s) and 1 (%s)\n",
		       c->name, names[1], names[0]);
	} else {
		int_id = btf__find_by_name_kind(btf, "int", BTF_KIND_INT);
		if (int_id < 0)
			fail("no int in BTF");
		ret = int_id;
		printf("corrupt: %s: return type void -> int\n", c->name);
	}
	np = btf__add_func_proto(btf, ret);
	if (np < 0)
		fail("btf__add_func_proto: %d", np);
	for (k = 0; k < vlen && k < MAX_ARGS; k++)
		if (btf__add_func_param(btf, names[k], types[k]))
			fail("btf__add_func_param failed");
	mfn = (struct btf_type *)btf__type_by_id(btf, c->func_id);
	mfn->type = np;
}

static bool swap_candidate(struct btf *btf, struct clone *c)
{
	const struct btf_type *proto = btf__type_by_id(btf, btf__type_by_id(btf, c->func_id)->type);
	const struct btf_param *p = btf_params(proto);
	u64 a, b;
	long sa, sb;

	if (!c->hits || c->nr_mm || btf_vlen(proto) < 2)
		return false;
	sa = btf__resolve_size(btf, p[0].type);
	sb = btf__resolve_size(btf, p[1].type);
	if (sa <= 0 || sa > 8 || sb <= 0 || sb > 8)
		return false;
	return expect_value(c->last, btf__name_by_offset(btf, p[0].name_off), &a, NULL,
			    NULL) &&
	       expect_value(c->last, btf__name_by_offset(btf, p[1].name_off), &b, NULL,
			    NULL) &&
	       (a & mask(sa)) != (b & mask(sa));
}

static bool undesc_candidate(struct btf *btf, struct clone *c)
{
	return c->hits && !c->nr_mm && c->undescribed;
}

static bool ret_candidate(struct btf *btf, struct clone *c)
{
	const struct btf_type *proto = btf__type_by_id(btf, btf__type_by_id(btf, c->func_id)->type);

	return c->hits && !c->nr_mm && !proto->type && c->last->has_ret &&
	       c->void_differs == c->hits;
}

/* Parse raw BTF @path, run @elf against its clone FUNCs, count. */
static struct totals check_btf(struct btf **btfp, const char *path, const char *elf,
			       bool quiet)
{
	*btfp = btf__parse_raw(path);
	if (!*btfp)
		fail("%s: cannot parse raw BTF", path);
	load_clones(*btfp);
	trace(elf, *btfp);
	return report(*btfp, quiet);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "btf", required_argument, NULL, 'b' },
		{ "expect", required_argument, NULL, 'e' },
		{ "label", required_argument, NULL, 'l' },
		{ "out", required_argument, NULL, 'o' },
		{ "corrupt", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ }
	};
	const char *btf_path = NULL, *exp_path = NULL, *mode = NULL;
	struct totals t;
	struct btf *btf;
	struct sym *s;
	int opt, i, how;

	while ((opt = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			btf_path = optarg;
			break;
		case 'e':
			exp_path = optarg;
			break;
		case 'l':
			label = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'c':
			mode = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1 || !btf_path || !exp_path ||
	    (mode && strcmp(mode, "swap") && strcmp(mode, "ret") && strcmp(mode, "undesc"))) {
		fprintf(stderr, "usage: corpus-exec [-v] [--corrupt swap|ret|undesc] --btf FILE "
			"--expect FILE [--label NAME] [--out FILE] ELF\n");
		return 2;
	}
	read_syms(argv[optind]);
	s = find_sym("corpus_call", false);
	if (!s)
		fail("no corpus_call in %s", argv[optind]);
	call_addr = s->addr;
	read_expect(exp_path);
	t = check_btf(&btf, btf_path, argv[optind], mode != NULL);
	print_totals(mode ? "clean run" : "result", &t);
	if (!mode)
		print_kinds();
	if (mode) {
		char path[4096];
		const void *raw;
		__u32 size;
		FILE *fp;

		if (t.mm)
			fail("mismatches before corrupting; run without --corrupt");
		how = !strcmp(mode, "swap") ? CORRUPT_SWAP :
		      !strcmp(mode, "ret") ? CORRUPT_RET : CORRUPT_UNDESC;
		for (i = 0; i < nr_clones; i++)
			if (how == CORRUPT_SWAP ? swap_candidate(btf, &clones[i]) :
			    how == CORRUPT_RET ? ret_candidate(btf, &clones[i]) :
			    undesc_candidate(btf, &clones[i]))
				break;
		if (i == nr_clones) {
			printf("corrupt: no checked clone fits mode %s\n", mode);
			return 3;
		}
		corrupt(btf, &clones[i], how);
		raw = btf__raw_data(btf, &size);
		snprintf(path, sizeof(path), "%s.corrupt", btf_path);
		fp = fopen(path, "w");
		if (!fp || fwrite(raw, 1, size, fp) != size || fclose(fp))
			fail("%s: cannot write", path);
		btf__free(btf);
		t = check_btf(&btf, path, argv[optind], false);
		print_totals("corrupted run", &t);
	}
	return t.mm ? 1 : 0;
}
