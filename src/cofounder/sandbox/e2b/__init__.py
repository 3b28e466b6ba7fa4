"""The E2B backend: commands run in an E2B cloud microVM over a mirrored host workspace.

Never imports the local backend (`cofounder.sandbox.local`): what both share lives in the seam
(`cofounder.sandbox.protocol`, `.processes`, `.preview`). The `e2b` SDK loads on first use."""
