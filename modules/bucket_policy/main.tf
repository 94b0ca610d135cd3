# Bucket policy: deny every request that does not use TLS, on the bucket and on its objects, plus
# any extra statements the caller merges in.

data "aws_iam_policy_document" "this" {
  source_policy_documents = var.source_policy_documents

  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"
    # The sandbox evaluates this condition as AWS does: its endpoint stands in for AWS's HTTPS
    # endpoint, so only a request a test marks insecure is denied.
    actions   = ["s3:*"]
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
