// Counts syscalls per (tgid, syscall number) at raw_syscalls:sys_enter.
//
// A raw tracepoint rather than the tracefs one: it needs no tracefs mount and skips the
// perf-buffer argument copy, which keeps the per-syscall cost lowest.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct key_t {
	__u32 pid; // thread group id: the process
	__u32 id;  // syscall number
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
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
		__sync_fetch_and_add(count, 1);
	} else {
		__u64 one = 1;
		// Another CPU may insert first: then add to its entry.
		if (bpf_map_update_elem(&SYSCALL_COUNTS, &key, &one, BPF_NOEXIST) != 0) {
			count = bpf_map_lookup_elem(&SYSCALL_COUNTS, &key);
			if (count)
				__sync_fetch_and_add(count, 1);
		}
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
