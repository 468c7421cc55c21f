"""The local stack: AWS emulated by moto, a platform simulator and a notification sink, on 127.0.0.1."""
