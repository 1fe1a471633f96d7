//! Compiles the C eBPF programs with clang when it is available. Without clang (or
//! when it fails) the crate still builds: the loader then reports the reason at run
//! time and the recorder falls back to sampling /proc.

use std::path::PathBuf;
use std::process::Command;

const PROGRAMS: [&str; 1] = ["syscalls"];

fn main() {
    println!("cargo:rustc-check-cfg=cfg(qb_bpf_object)");
    println!("cargo:rerun-if-env-changed=QB_CLANG");
    println!("cargo:rerun-if-env-changed=QB_NO_BPF");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let clang = std::env::var("QB_CLANG").unwrap_or_else(|_| "clang".into());

    let unavailable = |reason: String| {
        println!("cargo:warning=eBPF programs not built: {reason}");
        println!("cargo:rustc-env=QB_BPF_UNAVAILABLE={reason}");
    };
    if std::env::var_os("QB_NO_BPF").is_some() {
        return unavailable("QB_NO_BPF is set".into());
    }
    // Debian keeps asm/types.h under the multiarch include directory.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => other,
    };
    for name in PROGRAMS {
        let src = format!("c/{name}.bpf.c");
        println!("cargo:rerun-if-changed={src}");
        let obj = out.join(format!("{name}.bpf.o"));
        let result = Command::new(&clang)
            .args(["-O2", "-g", "-target", "bpf", "-Wall"])
            .arg(format!("-I/usr/include/{multiarch}"))
            .args(["-c", &src, "-o"])
            .arg(&obj)
            .output();
        match result {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                let stderr = String::from_utf8_lossy(&o.stderr);
                let first = stderr
                    .lines()
                    .find(|l| l.contains("error"))
                    .unwrap_or("unknown error");
                return unavailable(format!("{clang} failed on {src}: {first}"));
            }
            Err(e) => {
                return unavailable(format!(
                    "{clang} not runnable ({e}); install clang, llvm and libbpf-dev"
                ));
            }
        }
    }
    println!("cargo:rustc-cfg=qb_bpf_object");
}
