"""A seccomp filter that refuses the kernel keyring system calls inside the sandbox.

Keyrings are not namespaced by uid: as host root, the sandbox user (uid 1000 inside) is uid 0 outside,
and keys owned by host root grant their owner rights to it whatever the namespace. With ``add_key``,
``request_key`` and ``keyctl`` refused (EPERM, as Docker's default profile does), no key can be read,
changed or planted. Everything else is allowed. The program is classic BPF, as bwrap's ``--seccomp``
takes it.
"""

from __future__ import annotations

import errno
import struct

# audit arch → (add_key, request_key, keyctl); x32 calls are the x86_64 numbers with bit 30 set
ARCHES = {
    0xC000003E: (248, 249, 250),  # x86_64 (and x32)
    0x40000003: (286, 287, 288),  # i386, reachable from x86_64 through int 0x80
    0xC00000B7: (217, 218, 219),  # aarch64
}
X32_BIT = 0x40000000

LD_W_ABS, JEQ_K, AND_K, RET_K = 0x20, 0x15, 0x54, 0x06
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
OFFSET_NR, OFFSET_ARCH = 0, 4


def keyring_filter() -> bytes:
    """The filter program (an array of ``struct sock_filter``)."""
    prog: list[tuple[int, int, int, int]] = [(LD_W_ABS, 0, 0, OFFSET_ARCH)]
    deny_jumps: list[int] = []  # indices of JEQs whose true branch goes to the final deny
    for arch, numbers in ARCHES.items():
        block_len = 2 + len(numbers) + 1  # load nr, mask, one JEQ per call, allow
        prog.append((JEQ_K, 0, block_len, arch))
        prog.append((LD_W_ABS, 0, 0, OFFSET_NR))
        prog.append((AND_K, 0, 0, ~X32_BIT & 0xFFFFFFFF))
        for nr in numbers:
            deny_jumps.append(len(prog))
            prog.append((JEQ_K, 0, 0, nr))
        prog.append((RET_K, 0, 0, SECCOMP_RET_ALLOW))
    prog.append((RET_K, 0, 0, SECCOMP_RET_ALLOW))  # an architecture not listed: nothing to refuse
    deny = len(prog)
    prog.append((RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM))
    for i in deny_jumps:
        code, _, jf, k = prog[i]
        prog[i] = (code, deny - i - 1, jf, k)
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)
