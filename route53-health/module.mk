# route53-health/: parley-health, the health endpoint for DNS health checks
# and HAProxy agent checks.
$(eval $(call parley_daemon,health,route53-health,parley-health,))
