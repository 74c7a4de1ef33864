#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Do two raw BTF files (not split BTF) hold the same types, up to their
# type IDs?  Each type is described with its references resolved: to the
# kind, name and rank among the types of that kind and name for named
# types, to their structure for anonymous ones.  The multisets of the
# descriptions are compared; exit 0 when equal, 1 otherwise, with a few
# of the differences.  Used to check that btf_clones' output did not
# change when only the order of its types or strings did.
#
#   scripts/btf-same-types.py A.BTF B.BTF
import struct, sys, collections
sys.setrecursionlimit(100000)
# what follows struct btf_type: one record (INT, ARRAY, VAR, DECL_TAG), or
# vlen records (STRUCT, UNION, ENUM, FUNC_PROTO, DATASEC, ENUM64), named or not
ONE = {1: '<I', 3: '<III', 14: '<I', 17: '<i'}
EACH = {4: ('<III', True), 5: ('<III', True), 6: ('<Ii', True), 13: ('<II', True),
        15: ('<III', False), 19: ('<III', True)}
def parse(path):
    d = open(path, 'rb').read()
    magic, ver, flags, hl = struct.unpack_from('<HBBI', d, 0)
    assert magic == 0xeB9F
    to, tl, so, sl = struct.unpack_from('<IIII', d, 8)
    strs = d[hl + so: hl + so + sl]
    def s(off):
        e = strs.index(b'\0', off); return strs[off:e].decode()
    types = [None]; p = hl + to; end = p + tl
    while p < end:
        name_off, info, st = struct.unpack_from('<III', d, p); p += 12
        kind = (info >> 24) & 0x1f; vlen = info & 0xffff; kf = info >> 31
        t = dict(kind=kind, name=s(name_off), vlen=vlen, kf=kf, st=st, extra=())
        if kind in ONE:
            t['extra'] = struct.unpack_from(ONE[kind], d, p); p += struct.calcsize(ONE[kind])
        elif kind in EACH:
            fmt, named = EACH[kind]; m = []
            for i in range(vlen):
                r = struct.unpack_from(fmt, d, p); p += struct.calcsize(fmt)
                m.append((s(r[0]),) + r[1:] if named else r)
            t['extra'] = m
        types.append(t)
    return types
REF = {2, 7, 8, 9, 10, 11, 12, 14, 17, 18}  # kinds whose size_type field is a type ID
def keys(types):
    occ = collections.Counter(); memo = {}
    named = {}
    for i, t in enumerate(types[1:], 1):
        if t['name'] and t['kind'] not in (2, 9, 10, 11, 18, 13):
            k = (t['kind'], t['name']); named[i] = '%d:%s#%d' % (t['kind'], t['name'], occ[k]); occ[k] += 1
    def key(i):
        if i == 0: return 'void'
        if i in named: return named[i]
        if i in memo: return memo[i]
        memo[i] = '<cycle>'
        memo[i] = body(i)
        return memo[i]
    def body(i):
        t = types[i]; k = t['kind']
        if k in (4, 5): ex = [(n, key(ty), o) for n, ty, o in t['extra']]
        elif k == 13: ex = [(n, key(ty)) for n, ty in t['extra']]
        elif k == 3: ex = (key(t['extra'][0]), key(t['extra'][1]), t['extra'][2])
        elif k == 15: ex = [(key(ty), o, sz) for ty, o, sz in t['extra']]
        else: ex = t['extra']
        st = key(t['st']) if k in REF or k == 13 else t['st']
        return 'K%d(%s|%d|%s|%s)' % (k, t['name'], t['kf'], st, ex)
    return [body(i) for i in range(1, len(types))]
a = parse(sys.argv[1]); b = parse(sys.argv[2])
ka = collections.Counter(keys(a)); kb = collections.Counter(keys(b))
print('%s: %d types, %s: %d types' % (sys.argv[1], len(a) - 1, sys.argv[2], len(b) - 1))
if ka == kb:
    print('same types up to IDs'); sys.exit(0)
print('DIFFERENT:', sum((ka - kb).values()), 'only in A,', sum((kb - ka).values()), 'only in B')
for x in list((ka - kb).elements())[:5]:
    print(' A:', x[:300])
for x in list((kb - ka).elements())[:5]:
    print(' B:', x[:300])
sys.exit(1)
