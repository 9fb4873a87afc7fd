# parley-backend: the store (LMDB), the Web API, RTM and the edge stream.
$(eval $(call parley_daemon,backend,backend,parley-backend,$(LIBS_LMDB)))
