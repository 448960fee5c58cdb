"""Protocol decisions without HTTP: typed parameters in, a result or an :class:`OAuthError` out."""
