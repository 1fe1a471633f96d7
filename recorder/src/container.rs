//! Container ids from cgroup paths.

/// The id of the innermost container in a cgroup path, for the shapes written by
/// docker (`/docker/<id>`, `docker-<id>.scope`), containerd and kubelet
/// (`/kubepods/.../pod<uid>/<id>`, `cri-containerd-<id>.scope`), CRI-O (`crio-<id>.scope`)
/// and podman (`libpod-<id>.scope`).
pub fn container_id(cgroup_path: &str) -> Option<String> {
    const PREFIXES: [&str; 5] = [
        "docker-",
        "cri-containerd-",
        "crio-",
        "libpod-",
        "containerd-",
    ];
    cgroup_path.rsplit('/').find_map(|component| {
        let c = component.strip_suffix(".scope").unwrap_or(component);
        let c = PREFIXES.iter().find_map(|p| c.strip_prefix(p)).unwrap_or(c);
        (c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit())).then(|| c.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f";

    #[test]
    fn runtime_path_shapes() {
        let shapes = [
            format!("/docker/{ID}"),
            format!("/system.slice/docker-{ID}.scope"),
            format!("/kubepods/burstable/pod0f1e2d3c-aaaa-bbbb-cccc-000000000000/{ID}"),
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f1e.slice/cri-containerd-{ID}.scope"
            ),
            format!("/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope"),
            format!("/machine.slice/libpod-{ID}.scope/container"),
            format!("/docker/{ID}/init.scope"),
        ];
        for path in shapes {
            assert_eq!(container_id(&path).as_deref(), Some(ID), "{path}");
        }
    }

    #[test]
    fn host_paths_have_no_container() {
        for path in [
            "/",
            "/user.slice/user-0.slice/session-1.scope",
            "/system.slice/docker.service",
            "/process_api/9b8a93e6d0e76e27bb816108cc99f8c3",
            "/kubepods.slice/kubepods-pod1.slice/crio-conmon-abc.scope",
        ] {
            assert_eq!(container_id(path), None, "{path}");
        }
    }
}
