"""Dashboard users, groups, admin keys, and logging in."""


def includeme(config):
    config.include(".views")
