"""Adapters to AWS and the network: DynamoDB, SQS, S3, Secrets Manager, HTTP."""
