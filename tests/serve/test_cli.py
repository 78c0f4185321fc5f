"""``maskcls serve`` and ``maskcls relabel``: options reach the apps handed to uvicorn; bad input is one line."""

from __future__ import annotations

import pytest

from maskcls.cli import main


def run_cli(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return done.value.code or 0, captured.out, captured.err


@pytest.fixture
def started(monkeypatch) -> list[tuple]:
    """What the commands hand to uvicorn: the app and the socket already bound (nothing is served)."""
    import maskcls.cli.serve as serve_cli

    calls: list[tuple] = []

    def record(app, sock) -> None:
        calls.append((app, sock.getsockname()))
        sock.close()

    monkeypatch.setattr(serve_cli, "run_server", record)
    return calls


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_hands_the_loaded_model_to_uvicorn(face_run, started, capsys):
    port = free_port()
    code, out, err = run_cli(capsys, "serve", face_run, "--port", port, "--max-upload-mb", 1, "--detector", "haar")
    assert code == 0, err
    ((app, address),) = started
    assert address == ("127.0.0.1", port)
    info = app.state.service.info
    assert info.name == "face-run" and info.max_upload_bytes == 1024 * 1024 and info.detector == "haar"
    assert f"page http://127.0.0.1:{port}/" in out


def test_relabel_hands_the_tool_to_uvicorn(relabel_root, tmp_path, started, capsys):
    out_csv = tmp_path / "fixes.csv"
    port = free_port()
    code, out, err = run_cli(capsys, "relabel", relabel_root, "--out", out_csv, "--no-relabel", "--port", port)
    assert code == 0, err
    ((app, address),) = started
    assert address[1] == port and app.state.data.csv == out_csv and app.state.data.base == []
    assert f"6 people in {relabel_root}; corrections go to {out_csv}" in " ".join(out.split())


def test_bad_input_is_one_line(tmp_path, face_run, started, capsys):
    broken = tmp_path / "broken.csv"
    broken.write_text("id,field,value\n000001,colour,red\n")
    for args, message in [
        (("serve", tmp_path / "nope"), f"{tmp_path / 'nope'}: no such run folder or model file"),
        (("serve", face_run, "--max-upload-mb", 0), "--max-upload-mb 0.0: must be positive"),
        (("serve", face_run, "--detector", "eyes"), "unknown face detector 'eyes'"),
        (("relabel", tmp_path / "nope"), f"{tmp_path / 'nope'}: no such folder"),
        (("relabel", tmp_path, "--out", broken), f"{broken}: line 2: unknown field 'colour'"),
    ]:
        code, _, err = run_cli(capsys, *args)
        assert code == 1 and err.startswith("maskcls: error: ") and message in err and err.count("\n") == 1, err
    assert started == []
