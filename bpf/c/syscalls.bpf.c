// Counts syscalls per (tgid, syscall number) at raw_syscalls:sys_enter.
//
// A raw tracepoint rather than the tracefs one: it needs no tracefs mount and skips the
// perf-buffer argument copy, which keeps the per-syscall cost lowest. The map is per-CPU:
// threads of one process on different CPUs then never contend for one counter's cache
// line, and the increment needs no atomic (the program cannot migrate while it runs).
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct key_t {
	__u32 pid; // thread group id: the process
	__u32 id;  // syscall number
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct key_t);
	__type(value, __u64);
} SYSCALL_COUNTS SEC(".maps");

SEC("raw_tracepoint/sys_enter")
int count_sys_enter(void *ctx)
{
	// args of sys_enter: (struct pt_regs *regs, long id). Read it as plain u64s: a
	// CO-RE access to bpf_raw_tracepoint_args.args[1] does not relocate in aya 0.14.
	struct key_t key = {
		.pid = bpf_get_current_pid_tgid() >> 32,
		.id = (__u32)((__u64 *)ctx)[1],
	};
	__u64 *count = bpf_map_lookup_elem(&SYSCALL_COUNTS, &key);
	if (count) {
		*count += 1;
	} else {
		__u64 one = 1;
		// BPF_ANY: another CPU may have created the key meanwhile; this CPU's slot is
		// still zero then, so writing 1 loses nothing.
		bpf_map_update_elem(&SYSCALL_COUNTS, &key, &one, BPF_ANY);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
