# edge/: parley-edge, the edge cache.
$(eval $(call parley_daemon,edge,edge,parley-edge,$(LIBS_UTF8)))
