"""Cache-aside reads of an s3cache cache from Python, with redis-py and boto3 (as the AWS
sample "Caching Amazon S3 with Amazon ElastiCache for Redis" used them).

s3cached keeps the cache coherent with the bucket; a reader only reads, and on a miss
fills. The fill must never replace what an event wrote: the reader's copy was fetched
from S3 before that event was applied, so it may be older (a newer upload) or resurrect a
deleted object (a tombstone). The fill is therefore the Lua script the Go reader runs,
cache/fill.lua, which writes only where there is neither an entry nor a tombstone.

    import boto3, redis
    from s3cache_reader import Reader

    reader = Reader(redis.Redis.from_url("rediss://s3cache:PASSWORD@HOST:6379/0"),
                    boto3.client("s3"), bucket="my-bucket")
    body, hit = reader.get("photos/cat.jpg")

The cache's layout: a hash at <key_prefix><bucket>:<object key> with the fields body,
size, etag, content_type, last_modified, version_id and seq; a tombstone (a removed
object) has deleted=1 and no body. Read with HGET <key> body: nil is a miss.
"""

import datetime
import os
import random

import redis

_FILL_LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "cache", "fill.lua")


def fill_script(path=_FILL_LUA):
    """The text of the fill script, cache/fill.lua, which cache.Store.Fill runs too. Copy
    the file along when you copy this module, and pass its path."""
    with open(path, encoding="utf-8") as f:
        return f.read()


class Reader:
    """Reads objects of one bucket cache-aside.

    key_prefix, ttl_seconds, ttl_jitter and max_object_bytes mean what S3CACHE_KEY_PREFIX,
    S3CACHE_TTL, S3CACHE_TTL_JITTER and S3CACHE_MAX_OBJECT_BYTES mean to s3cached: use
    the same values.
    """

    def __init__(self, redis_client, s3_client, bucket, key_prefix="", ttl_seconds=24 * 3600,
                 ttl_jitter=0.1, max_object_bytes=1 << 20, fill_lua=_FILL_LUA):
        self.redis = redis_client
        self.s3 = s3_client
        self.bucket = bucket
        self.key_prefix = key_prefix
        self.ttl_seconds = ttl_seconds
        self.ttl_jitter = ttl_jitter
        self.max_object_bytes = max_object_bytes
        self._fill = redis_client.register_script(fill_script(fill_lua))
        # Called with the object key between the S3 GET and the fill; tests use it to
        # apply an event at exactly that moment.
        self.before_fill = lambda key: None

    def redis_key(self, key):
        """The Redis key of an object key."""
        return f"{self.key_prefix}{self.bucket}:{key}"

    def get(self, key):
        """Returns (body, hit): from Redis when cached, else from S3, filling the cache
        where there is neither an entry nor a tombstone. A missing object raises the S3
        client's NoSuchKey. A Redis failure does not fail the read: the object comes from
        S3 and is not cached."""
        rkey = self.redis_key(key)
        lookup_failed = False
        try:
            body = self.redis.hget(rkey, "body")
            if body is not None:
                return body, True
        except redis.ResponseError as e:
            # WRONGTYPE: another program wrote a value of another type there; the fill
            # replaces it, as s3cached's writes do.
            if not str(e).startswith("WRONGTYPE"):
                lookup_failed = True
        except redis.RedisError:
            lookup_failed = True

        obj = self.s3.get_object(Bucket=self.bucket, Key=key)
        body = obj["Body"].read()
        self.before_fill(key)
        if lookup_failed or len(body) > self.max_object_bytes:
            return body, False
        try:
            self.fill(key, obj, body)
        except redis.RedisError:
            pass
        return body, False

    def fill(self, key, obj, body):
        """Writes a get_object reply into the cache where there is neither an entry nor
        a tombstone; returns whether it wrote."""
        fields = [b"body", body, "size", str(len(body))]
        etag = obj.get("ETag", "").strip('"')
        if etag:
            fields += ["etag", etag]
        if obj.get("ContentType"):
            fields += ["content_type", obj["ContentType"]]
        modified = obj.get("LastModified")
        if modified:
            fields += ["last_modified", modified.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")]
        if obj.get("VersionId"):
            fields += ["version_id", obj["VersionId"]]
        return self._fill(keys=[self.redis_key(key)], args=[self._ttl_millis()] + fields) >= 1

    def _ttl_millis(self):
        # Spread expiries by ±ttl_jitter, as s3cached does, so that entries filled
        # together do not all expire at once.
        if self.ttl_seconds <= 0:
            return 0
        factor = 1 + self.ttl_jitter * (2 * random.random() - 1)
        return max(1, int(self.ttl_seconds * 1000 * factor))
