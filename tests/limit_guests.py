"""WAT guests shared by the limits, threads and soak tests (no C toolchain needed)."""

from __future__ import annotations

# spin: loops forever. ready_spin: prints "ready" (WASI fd_write) first, so a parent
# process knows the guest is running. count(n): n loop iterations, returns n.
# grow(pages): memory.grow. bump(n): adds 1 to a global n times (non-atomically).
SPIN_WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (data (i32.const 16) "ready\\n")
  (func $spin (export "spin") (loop $l (br $l)))
  (func (export "ready_spin")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $spin))
  (func (export "count") (param $n i32) (result i32) (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $i))
  (func (export "grow") (param $pages i32) (result i32) (memory.grow (local.get $pages)))
  (func (export "bump") (param $n i32) (result i32) (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (global.get $g))
)
"""

# matmul_loop(iters, m, n, k): iters x zw.matmul(a=0, b=m*k*4, c=(m*k+n*k)*4), then
# zw.add(c, d, d) with d after c, so d accumulates every product: d = iters * (a @ b.T).
# add_all(): zw.add over the whole committed memory in place (x = x + x).
OPS_WAT = """
(module
  (import "zw" "matmul" (func $matmul (param i32 i32 i32 i32 i32 i32 i32)))
  (import "zw" "add" (func $add (param i32 i32 i32 i32)))
  (memory (export "memory") {pages})
  (func (export "matmul_loop") (param $iters i32) (param $m i32) (param $n i32) (param $k i32) (result i32)
    (local $i i32) (local $b i32) (local $c i32) (local $d i32)
    (local.set $b (i32.mul (i32.mul (local.get $m) (local.get $k)) (i32.const 4)))
    (local.set $c (i32.add (local.get $b) (i32.mul (i32.mul (local.get $n) (local.get $k)) (i32.const 4))))
    (local.set $d (i32.add (local.get $c) (i32.mul (i32.mul (local.get $m) (local.get $n)) (i32.const 4))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $iters)))
      (call $matmul (i32.const 0) (local.get $b) (local.get $c)
                    (local.get $m) (local.get $n) (local.get $k) (i32.const 0))
      (call $add (local.get $c) (local.get $d) (local.get $d) (i32.mul (local.get $m) (local.get $n)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $i))
  (func (export "grow") (param $pages i32) (result i32) (memory.grow (local.get $pages)))
  (func (export "add_page") (param $page i32)
    (call $add (i32.mul (local.get $page) (i32.const 65536)) (i32.mul (local.get $page) (i32.const 65536))
               (i32.mul (local.get $page) (i32.const 65536)) (i32.const 16384)))
  (func (export "add_all")
    (call $add (i32.const 0) (i32.const 0) (i32.const 0) (i32.mul (memory.size) (i32.const 16384))))
)
"""

# fib(n) by naive recursion: pure Wasm compute, no ops, no memory traffic.
FIB_WAT = """
(module
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2))))))))
"""


def ops_wat(pages: int) -> str:
    return OPS_WAT.replace("{pages}", str(pages))
