# spoa-agent/: parley-spoa, the HAProxy SPOE agent.
$(eval $(call parley_daemon,spoa,spoa-agent,parley-spoa,))
