"""ASGI entry point for production servers: ``uvicorn project.asgi:application``.

``TOLLGATE_ASGI`` tells settings to keep no persistent database connections (Django's advice
under ASGI); :class:`project.bodylimit.BodyLimit` refuses an oversized upload before Django
buffers it.
"""

import os
import warnings

from django.core.asgi import get_asgi_application

# WhiteNoise hands Django a file iterator that Django must read through a thread under ASGI; for
# the dashboard's few small files that is fine, and Django would warn on every one of them.
warnings.filterwarnings("ignore", "StreamingHttpResponse must consume synchronous iterators", Warning)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("TOLLGATE_ASGI", "1")
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (configured by the line above)

from project.bodylimit import BodyLimit  # noqa: E402

application = BodyLimit(django_application, max_bytes=settings.TOLLGATE_MAX_UPLOAD_BYTES)
