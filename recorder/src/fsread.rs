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
