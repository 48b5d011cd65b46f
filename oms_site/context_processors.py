from django.conf import settings


def branding(request):
    """Brand name and colour for the console's templates."""
    return {
        "oms_brand_name": settings.OMS_BRAND_NAME,
        "oms_brand_color": settings.OMS_BRAND_COLOR,
    }
