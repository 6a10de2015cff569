"""A throwaway TCP proxy on loopback, to make a shared server "fail" without stopping it."""

from __future__ import annotations

import asyncio
import threading

from tests.support.servers import free_port


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``stop()`` cuts every connection and refuses new
    ones (as a dead server would); ``start()`` again resumes on the same port. ``pause()``
    holds what clients send (a stalled server: connections open, no replies) and
    ``resume()`` delivers it, even what clients that gave up meanwhile had sent."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> TcpProxy:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._flowing = asyncio.Event()
            self._flowing.set()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", self.port)
            )
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, held: bool = False
        ) -> None:
            try:
                while data := await src.read(65536):
                    if held and self._flowing is not None:
                        await self._flowing.wait()
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                if held and self._flowing is not None and not self._flowing.is_set():
                    await self._flowing.wait()  # a client that gave up: deliver, then close
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, held=True), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def pause(self) -> None:
        """Stall: hold every byte clients send until ``resume()``."""
        self._set_flowing(False)

    def resume(self) -> None:
        self._set_flowing(True)

    def _set_flowing(self, flowing: bool) -> None:
        loop, event = self._loop, self._flowing
        if loop is None or event is None:
            return
        done = asyncio.run_coroutine_threadsafe(_toggle(event, flowing), loop)
        done.result(5)

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        loop.close()
        self._loop = None


async def _toggle(event: asyncio.Event, on: bool) -> None:
    if on:
        event.set()
    else:
        event.clear()
