"""The E2B backend: commands run in an E2B cloud microVM over a mirrored host workspace.

Never imports the local backend (`cofounder.sandbox.local`): what both share lives in the seam
(`cofounder.sandbox.protocol`, `.processes`, `.preview`). The `e2b` SDK loads on first use.

Defense in depth, as the local backend's seccomp filter, host-free view and reaping give it:
an E2B sandbox is a Firecracker microVM with a kernel of its own, so hostile code reaches the
guest kernel only; the host's is guarded by Firecracker (a minimal device model) and its
jailer, which runs each VM monitor under its own seccomp filter, cgroup, chroot and
namespaces. That is E2B's side and not configurable here. Nothing of the worker host is in the
VM (the workspace is a copy at /workspace, the environment is the SDK's), and whatever a
command leaves behind dies with the VM on `close`."""
