//! Reading small kernel files into reusable buffers, and telling "it vanished" apart
//! from real failures.

use std::io::{self, Read};
use std::path::Path;

/// Replaces `buf` with the file's contents (lossy UTF-8 is not needed: these files are ASCII).
pub fn read_into(path: &Path, buf: &mut String) -> io::Result<()> {
    buf.clear();
    std::fs::File::open(path)?.read_to_string(buf)?;
    Ok(())
}

/// The object behind the path went away between listing and reading: a process that
/// exited, a cgroup that was removed. Such entries are skipped and counted.
pub fn vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(e.raw_os_error(), Some(libc::ESRCH) | Some(libc::ENODEV))
}

pub fn denied(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied
}

/// The path is a mounted procfs (not a fake tree in a temp dir): only then do
/// procfs-specific shortcuts apply and live kernel interfaces describe the same processes.
pub fn is_procfs(path: &Path) -> bool {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs is plain data, so all-zero is a valid value.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a NUL-terminated path and buf a writable statfs, both live for the call.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut buf) };
    rc == 0 && buf.f_type as i64 == PROC_SUPER_MAGIC
}
