"""Training of jaxgan networks (GAN and encoder training loops live here)."""
