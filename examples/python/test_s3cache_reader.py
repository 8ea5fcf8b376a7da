"""Tests of s3cache_reader against a running s3cache: S3 with notifications, s3cached
and Redis. examples/python/reader_test.go starts the sandbox and runs them with its
environment (S3CACHE_BUCKET, S3CACHE_REDIS_URL, S3CACHE_KEY_PREFIX, AWS_ENDPOINT_URL_S3,
AWS_REGION and credentials)."""

import os
import time
import unittest
import uuid

import boto3
import botocore.config
import redis

from s3cache_reader import Reader


def wait_for(what, check, timeout=15):
    """Polls check until it returns true; s3cached applies events within milliseconds,
    the timeout is for a loaded machine."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class ReaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bucket = os.environ["S3CACHE_BUCKET"]
        cls.redis = redis.Redis.from_url(os.environ["S3CACHE_REDIS_URL"])
        # boto3 before 1.28 does not read AWS_ENDPOINT_URL_S3 itself.
        cls.s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
                              config=botocore.config.Config(s3={"addressing_style": "path"}))
        cls.prefix = os.environ.get("S3CACHE_KEY_PREFIX", "")

    def setUp(self):
        self.reader = Reader(self.redis, self.s3, self.bucket, key_prefix=self.prefix)
        self.key = f"py/{uuid.uuid4()}.txt"
        self.rkey = self.reader.redis_key(self.key)

    def put(self, body):
        """Uploads body and waits until s3cached has cached it; returns its ETag."""
        etag = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body)["ETag"].strip('"')
        wait_for(f"s3cached to cache {self.key} with ETag {etag}",
                 lambda: self.redis.hget(self.rkey, "etag") == etag.encode())
        return etag

    def test_miss_fills_then_hits(self):
        etag = self.put(b"first")
        self.redis.delete(self.rkey)  # as if the entry had expired
        self.assertEqual(self.reader.get(self.key), (b"first", False))
        entry = self.redis.hgetall(self.rkey)
        self.assertEqual(entry[b"body"], b"first")
        self.assertEqual(entry[b"etag"], etag.encode())
        self.assertEqual(entry[b"size"], b"5")
        self.assertEqual(entry[b"seq"], b"", "a fill carries no sequencer, so any event replaces it")
        self.assertGreater(self.redis.pttl(self.rkey), 0, "a fill expires like the daemon's entries")
        self.assertEqual(self.reader.get(self.key), (b"first", True))

    def test_fill_never_replaces_a_newer_upload(self):
        self.put(b"old")
        self.redis.delete(self.rkey)

        def upload_meanwhile(key):
            # The reader has fetched "old"; a newer upload is applied before its fill.
            self.put(b"new")
        self.reader.before_fill = upload_meanwhile
        self.assertEqual(self.reader.get(self.key), (b"old", False))
        self.assertEqual(self.redis.hget(self.rkey, "body"), b"new",
                         "the fill replaced what the newer event wrote")

    def test_fill_never_replaces_a_tombstone(self):
        self.put(b"doomed")
        self.redis.delete(self.rkey)

        def delete_meanwhile(key):
            self.s3.delete_object(Bucket=self.bucket, Key=key)
            wait_for(f"s3cached to tombstone {key}", lambda: self.redis.hget(self.rkey, "deleted") == b"1")
        self.reader.before_fill = delete_meanwhile
        self.assertEqual(self.reader.get(self.key), (b"doomed", False))
        self.assertEqual(self.redis.hget(self.rkey, "deleted"), b"1", "the fill resurrected a deleted object")
        self.assertIsNone(self.redis.hget(self.rkey, "body"))

    def test_value_of_another_type_is_replaced(self):
        self.put(b"object")
        self.redis.set(self.rkey, "a plain string, as the AWS sample's scripts wrote")
        self.assertEqual(self.reader.get(self.key), (b"object", False))
        self.assertEqual(self.redis.hget(self.rkey, "body"), b"object")

    def test_missing_object(self):
        with self.assertRaises(self.s3.exceptions.NoSuchKey):
            self.reader.get(self.key)
        self.assertFalse(self.redis.exists(self.rkey), "a missing object must not be cached")


if __name__ == "__main__":
    unittest.main()
