"""reconciler.client: the only package that talks to AWS (boto3/botocore).

``healthimaging`` is the HealthImaging client (its CopyImageSet and DeleteImageSet are in ``copying``),
``calls`` sends each of its requests (pacing, retries, error translation by ``errors``), ``values``
parses the answers, ``backends`` is the plain choice of backend, ``session`` builds the boto3 client for
it and ``identity`` names it for saved plans; ``s3`` and ``storage`` keep saved plans and journals in S3.
Nothing here knows the emulator: for ``--local``, ``reconciler.local`` attaches it as the client's
transport.
"""
