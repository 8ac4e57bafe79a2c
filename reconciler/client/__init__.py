"""reconciler.client: the only package that talks to AWS (boto3/botocore).

``healthimaging`` is the HealthImaging client (pacing, retries, error translation), ``session`` builds
its boto3 client for a backend, ``errors`` and ``values`` translate botocore's failures and answers,
``backends`` is the plain choice of backend, ``s3`` and ``storage`` keep saved plans and journals in S3.
Nothing here knows the emulator: ``reconciler.local`` attaches it for ``--local``.
"""
