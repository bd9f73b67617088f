"""kombu's filesystem transport writing private files whole: messages and exchange tables 0600.

The embedded broker (no Redis) keeps task messages, BMC parameters among them, as files under
var/broker/. kombu creates them with the process umask (0644 usually), and creates a message
before it writes it, so a consumer listing the folder meanwhile can take it empty and die on
the JSON. Here a message is written 0600 under a name no consumer looks at, then renamed into
place; exchange tables are created under umask 077. Celery uses this transport through
`broker_transport` (rack_worker.env).
"""
import os
import threading
import uuid
from contextlib import contextmanager
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

PRIVATE_UMASK = 0o077
_umask_lock = threading.Lock()


@contextmanager
def private_files():
    """Files and folders created inside are this user's only; the umask is restored after."""
    with _umask_lock:
        previous = os.umask(PRIVATE_UMASK)
        try:
            yield
        finally:
            os.umask(previous)


class Channel(filesystem.Channel):
    """Writes messages whole (then renamed) and exchange tables as 0600 files."""

    def _put(self, queue, payload, **kwargs):
        """Put the message on the queue: kombu's file name, appearing only once written."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        # No dot: kombu's consumers take only names ending in ".<queue>.msg".
        partial = os.path.join(self.data_folder_out, f"partial-{uuid.uuid4().hex}")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.rename(partial, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            try:
                os.unlink(partial)
            except OSError:
                pass
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        with private_files():
            super()._queue_bind(exchange, routing_key, pattern, queue)


class Transport(filesystem.Transport):
    """The filesystem transport with private, whole files."""

    Channel = Channel
