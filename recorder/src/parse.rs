//! Small, allocation-free parsers for /proc and cgroup text files. They take the text
//! so that fake trees, recorded raw text and live files all go through the same code.

/// Calls `f(key, value)` for each `key value [unit]` line (meminfo, vmstat, memory.stat,
/// cpu.stat, memory.events). A trailing ':' on the key is dropped; lines whose value is
/// not an unsigned integer are skipped.
pub fn for_each_kv(text: &str, mut f: impl FnMut(&str, u64)) {
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        if let Ok(v) = value.parse() {
            f(key.strip_suffix(':').unwrap_or(key), v);
        }
    }
}

/// One line of a pressure file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PsiLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total_us: u64,
}

/// `some` and `full` lines of /proc/pressure/* or a cgroup's *.pressure file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Psi {
    pub some: Option<PsiLine>,
    pub full: Option<PsiLine>,
}

pub fn psi(text: &str) -> Psi {
    let mut out = Psi::default();
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        let slot = match words.next() {
            Some("some") => &mut out.some,
            Some("full") => &mut out.full,
            _ => continue,
        };
        let mut p = PsiLine::default();
        for word in words {
            let Some((k, v)) = word.split_once('=') else {
                continue;
            };
            match k {
                "avg10" => p.avg10 = v.parse().unwrap_or(0.0),
                "avg60" => p.avg60 = v.parse().unwrap_or(0.0),
                "avg300" => p.avg300 = v.parse().unwrap_or(0.0),
                "total" => p.total_us = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        *slot = Some(p);
    }
    out
}

/// First whitespace-separated number of a one-value file (memory.current, oom_score_adj).
pub fn first_number<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.split_ascii_whitespace().next()?.parse().ok()
}

/// A v2 limit file: a number, or "max" for none.
pub fn v2_limit(text: &str) -> Option<u64> {
    first_number(text)
}

/// A v1 limit: the kernel reports "unlimited" as a huge page-aligned value.
pub fn v1_limit(text: &str) -> Option<u64> {
    first_number::<u64>(text).filter(|&v| v < (1 << 62))
}

/// Fields of /proc/PID/stat that we keep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PidStat<'a> {
    pub comm: &'a str,
    pub state: char,
    pub ppid: u32,
    pub flags: u64,
    pub minflt: u64,
    pub majflt: u64,
    pub utime: u64,
    pub stime: u64,
    pub threads: u32,
    pub starttime: u64,
    pub vsize: u64,
    pub rss_pages: u64,
}

/// Parses /proc/PID/stat. `comm` may hold spaces and parentheses, so it is everything
/// between the first '(' and the last ')'.
pub fn pid_stat(text: &str) -> Option<PidStat<'_>> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?;
    // Fields from 3 (state) on; index i here is field i + 3.
    let f: Vec<&str> = text.get(close + 1..)?.split_ascii_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
    Some(PidStat {
        comm,
        state: f.first()?.chars().next()?,
        ppid: num(1)? as u32,
        flags: num(6)?,
        minflt: num(7)?,
        majflt: num(9)?,
        utime: num(11)?,
        stime: num(12)?,
        threads: num(17)? as u32,
        starttime: num(19)?,
        vsize: num(20)?,
        rss_pages: f.get(21)?.parse::<i64>().ok()?.max(0) as u64,
    })
}

/// /proc/PID/syscall: "running" -> None; "-1 sp pc" (blocked outside a syscall) -> -1;
/// "nr args..." -> nr.
pub fn current_syscall(text: &str) -> Option<i32> {
    let first = text.split_ascii_whitespace().next()?;
    if first == "running" {
        None
    } else {
        first.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        let line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 120 0 3 0 11 7 0 0 20 0 2 0 \
                    98765 1048576 256 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let s = pid_stat(line).unwrap();
        assert_eq!(s.comm, "a) b (c)");
        assert_eq!(s.state, 'S');
        assert_eq!((s.ppid, s.flags, s.minflt, s.majflt), (1, 4194560, 120, 3));
        assert_eq!(
            (s.utime, s.stime, s.threads, s.starttime),
            (11, 7, 2, 98765)
        );
        assert_eq!((s.vsize, s.rss_pages), (1048576, 256));
    }

    #[test]
    fn truncated_stat_is_rejected_not_panicking() {
        assert_eq!(pid_stat("12 (x) S 1 2"), None);
        assert_eq!(pid_stat(""), None);
        assert_eq!(pid_stat("12 x) S"), None);
    }

    #[test]
    fn psi_lines() {
        let p = psi(
            "some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n",
        );
        assert_eq!(p.some.unwrap().avg10, 1.5);
        assert_eq!(p.some.unwrap().total_us, 12345);
        assert_eq!(p.full.unwrap().total_us, 7);
        assert_eq!(psi("some avg10=1.00 avg60=0 avg300=0 total=1\n").full, None);
    }

    #[test]
    fn kv_lines_skip_garbage() {
        let mut seen = Vec::new();
        for_each_kv("MemTotal:  100 kB\nbogus\nx y\nnr 7\n", |k, v| {
            seen.push((k.to_string(), v))
        });
        assert_eq!(seen, [("MemTotal".to_string(), 100), ("nr".to_string(), 7)]);
    }

    #[test]
    fn syscall_file_shapes() {
        assert_eq!(current_syscall("running\n"), None);
        assert_eq!(current_syscall("-1 0x7ffd 0x7f00\n"), Some(-1));
        assert_eq!(
            current_syscall("202 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8\n"),
            Some(202)
        );
        assert_eq!(current_syscall(""), None);
    }

    #[test]
    fn limits() {
        assert_eq!(v1_limit("9223372036854771712\n"), None);
        assert_eq!(v1_limit("268435456\n"), Some(268435456));
        assert_eq!(v2_limit("max\n"), None);
        assert_eq!(v2_limit("1048576\n"), Some(1048576));
    }
}
