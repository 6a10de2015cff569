"""Write deploy/kubernetes/configmap.yaml from deploy/vallum.yaml (run after editing it)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = """# deploy/vallum.yaml, verbatim: edit that file, then run scripts/render_configmap.py.
apiVersion: v1
kind: ConfigMap
metadata:
  name: vallum-config
  namespace: vallum
data:
  vallum.yaml: |
"""


def main() -> None:
    config = (ROOT / "deploy" / "vallum.yaml").read_text()
    body = "".join("    " + line if line.strip() else "\n" for line in config.splitlines(True))
    (ROOT / "deploy" / "kubernetes" / "configmap.yaml").write_text(HEADER + body)


if __name__ == "__main__":
    main()
