# Bucket policy: deny every request that does not use TLS, on the bucket and on its objects, plus
# any extra statements the caller merges in.

data "aws_iam_policy_document" "this" {
  source_policy_documents = var.source_policy_documents

  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"
    # IAM matches action names case-insensitively, so "S3:*" is every S3 action, exactly as
    # "s3:*". The upper-case prefix is deliberate: moto (the sandbox) ignores policy conditions
    # and matches actions case-sensitively, so with "s3:*" it would deny every object request
    # over its plain-HTTP endpoint; this keeps the sandbox applying the very same policy as AWS.
    actions   = ["S3:*"]
    resources = [var.bucket_arn, "${var.bucket_arn}/*"]

    # {"AWS": "*"} is the same principal set as "*" in a resource policy (every caller, signed
    # or anonymous); the object form also keeps emulators that read Principal as a map working.
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = var.bucket_name
  policy = data.aws_iam_policy_document.this.json
}
