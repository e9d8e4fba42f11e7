"""Running scripts: private files, process groups, output capture, kills."""

import os
import signal
import stat
import time

import pytest

from jobrunner.worker.runner import (
    ExecError,
    Execution,
    LogBuffer,
    describe_status,
    write_script,
)


def run_script(tmp_path, content, env=None):
    buffer = LogBuffer()
    execution = Execution(write_script(str(tmp_path), 1, content), buffer, env=env)
    execution.start()
    status = execution.wait(timeout=20)
    execution.signal_group(signal.SIGKILL)  # what a test leaves running
    execution.cleanup()
    return status, buffer.text()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class TestScriptFile:
    def test_private_and_executable(self, tmp_path):
        path = write_script(str(tmp_path), 42, "#!/bin/sh\necho hi\n")

        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o700
        assert os.path.basename(path).startswith("jobrunner-run-42-")

    def test_without_interpreter_line_it_is_a_shell_script(self, tmp_path):
        assert run_script(tmp_path, "echo from sh") == (0, "from sh\n")

    def test_removed_after_the_run(self, tmp_path):
        run_script(tmp_path, "#!/bin/sh\ntrue\n")

        assert list(tmp_path.iterdir()) == []


class TestExecution:
    def test_stdout_and_stderr_together_in_order(self, tmp_path):
        status, text = run_script(
            tmp_path, "#!/bin/sh\necho out\necho err >&2\necho out again\n"
        )

        assert status == 0
        assert text == "out\nerr\nout again\n"

    def test_exit_status(self, tmp_path):
        assert run_script(tmp_path, "#!/bin/sh\necho bad\nexit 3\n") == (3, "bad\n")

    def test_other_interpreters(self, tmp_path):
        script = "#!/usr/bin/env python3\nimport sys\nprint(sys.argv[0][-5:] != '')\n"

        assert run_script(tmp_path, script) == (0, "True\n")

    def test_undecodable_output_is_replaced_not_fatal(self, tmp_path):
        status, text = run_script(tmp_path, "#!/bin/sh\nprintf 'a\\377b\\n'\n")

        assert (status, text) == (0, "a\ufffdb\n")

    def test_multibyte_characters_split_across_reads_survive(self, tmp_path):
        script = "#!/usr/bin/env python3\nimport sys\nsys.stdout.write('€' * 50000)\n"

        status, text = run_script(tmp_path, script)

        assert text == "€" * 50000

    def test_environment_is_passed(self, tmp_path):
        env = {"PATH": os.environ["PATH"], "GREETING": "hej"}

        assert run_script(tmp_path, "echo $GREETING", env=env) == (0, "hej\n")

    def test_a_background_child_holding_the_pipe_does_not_hang_it(self, tmp_path):
        Execution.DRAIN_SECONDS, saved = 0.5, Execution.DRAIN_SECONDS
        try:
            began = time.monotonic()
            status, text = run_script(
                tmp_path, "#!/bin/sh\necho main\nsleep 30 &\necho done\n"
            )
        finally:
            Execution.DRAIN_SECONDS = saved

        assert time.monotonic() - began < 10
        assert status == 0
        assert text.startswith("main\ndone\n")
        assert "stopped reading output" in text

    def test_a_missing_interpreter_is_an_exec_error(self, tmp_path):
        execution = Execution(
            write_script(str(tmp_path), 1, "#!/no/such/shell\n"), LogBuffer()
        )

        with pytest.raises(ExecError, match="cannot start"):
            execution.start()
        execution.cleanup()

    def test_runs_in_its_own_process_group(self, tmp_path):
        status, text = run_script(
            tmp_path,
            "#!/usr/bin/env python3\nimport os\nprint(os.getpgid(0) == os.getpid())\n",
        )

        assert text == "True\n"


class TestKill:
    def test_sigterm_ends_the_whole_group(self, tmp_path, tmp_path_factory):
        pidfile = tmp_path_factory.mktemp("pids") / "child"
        script = f"#!/bin/sh\nsleep 60 &\necho $! > {pidfile}\necho started\nwait\n"
        buffer = LogBuffer()
        execution = Execution(write_script(str(tmp_path), 1, script), buffer)
        execution.start()
        while not pidfile.exists() or not pidfile.read_text().strip():
            time.sleep(0.05)
        child = int(pidfile.read_text())

        status = execution.kill(grace_period=5)

        assert status == -signal.SIGTERM
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
        execution.cleanup()

    def test_sigkill_after_the_grace_period(self, tmp_path):
        script = (
            "#!/bin/sh\ntrap 'echo ignoring TERM' TERM\necho ready\n"
            "while true; do sleep 0.1; done\n"
        )
        buffer = LogBuffer()
        execution = Execution(write_script(str(tmp_path), 1, script), buffer)
        execution.start()
        while "ready" not in buffer.text():
            time.sleep(0.05)

        began = time.monotonic()
        status = execution.kill(grace_period=0.5)

        assert status == -signal.SIGKILL
        assert 0.5 <= time.monotonic() - began < 5
        assert "ignoring TERM" in buffer.text()
        execution.cleanup()


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (0, "exit status 0"),
        (2, "exit status 2"),
        (-9, "killed by SIGKILL"),
        (-15, "killed by SIGTERM"),
    ],
)
def test_describe_status(status, text):
    assert describe_status(status) == text
